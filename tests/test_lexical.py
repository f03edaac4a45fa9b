"""The lexical index (tantivy) is derived from SQLite: these tests take it away, damage
it, leave it behind the database, swap it for another store's, link it outside the
index, and upgrade a store that still has FTS5 tables. Every time the search results
must come back to what a freshly built index gives. Its filters must select exactly
the chunks the store's SQL selects."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rag.dates import date_number
from rag.pipeline import RAG
from rag.store import Filters
from rag.store.local import LEXICAL_DIR
from rag.text import content_terms, lexical_tokens
from tests.test_store_adversarial import titles_in

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["hợp tác quốc phòng Việt Nam Nga", "lưu học sinh Việt Nam tại Nhật Bản", "ODA Nhật Bản", "viet nam nga 2021"]


def lexical_results(index_dir: Path, embedder) -> list[dict[int, float]]:
    rag = RAG.open(index_dir, embedder=embedder, seeds=None)
    try:
        store = rag.store
        return [store._lexical.search(content_terms(lexical_tokens(q)), 20) for q in QUESTIONS]
    finally:
        rag.close()


@pytest.fixture(scope="module")
def expected(seed_index_dir, embedder) -> list[dict[int, float]]:
    found = lexical_results(seed_index_dir, embedder)
    assert all(found), "every probe question should match something in the seeds"
    return found


def same(found: list[dict[int, float]], expected: list[dict[int, float]]) -> bool:
    return all(f.keys() == e.keys() and all(abs(f[k] - e[k]) < 1e-4 for k in f) for f, e in zip(found, expected))


def test_a_deleted_lexical_index_is_rebuilt_from_the_database(writable_index, embedder, expected):
    shutil.rmtree(writable_index / LEXICAL_DIR)
    assert same(lexical_results(writable_index, embedder), expected)
    assert (writable_index / LEXICAL_DIR).is_dir()


@pytest.mark.parametrize("damage", ["meta.json garbage", "segments gone", "empty folder", "a file instead"])
def test_a_damaged_lexical_index_is_rebuilt(writable_index, embedder, expected, damage):
    path = writable_index / LEXICAL_DIR
    if damage == "meta.json garbage":
        (path / "meta.json").write_bytes(b"\x00not json{")
    elif damage == "segments gone":
        for f in path.iterdir():
            if f.name != "meta.json":
                f.unlink()
    elif damage == "empty folder":
        shutil.rmtree(path)
        path.mkdir()
    else:
        shutil.rmtree(path)
        path.write_text("not an index")
    assert same(lexical_results(writable_index, embedder), expected)


def test_an_index_left_behind_by_a_crash_is_caught_up(writable_index, embedder, tmp_path):
    """A writer killed between its SQLite commit and its lexical update leaves the
    lexical index one write behind; the next open applies that write."""
    before = tmp_path / "lexical-before"
    shutil.copytree(writable_index / LEXICAL_DIR, before)
    article = tmp_path / "new.txt"
    article.write_text("Tàu ngầm Kilo thăm cảng Cam Ranh\nTàu ngầm Kilo của Hải quân thăm cảng Cam Ranh ngày 3/4/2022.\n", "utf-8")
    rag = RAG.open(writable_index, embedder=embedder, seeds=None)
    rag.add_paths([article])
    rag.close()
    shutil.rmtree(writable_index / LEXICAL_DIR)
    shutil.copytree(before, writable_index / LEXICAL_DIR)  # as if the update never ran

    rag = RAG.open(writable_index, embedder=embedder, seeds=None)
    try:
        found = rag.store._lexical.search(["kilo", "cam_ranh"], 5)
        chunks = rag.store.chunks(found)
        assert found and all(c.title.startswith("Tàu ngầm Kilo") for c in chunks.values())
    finally:
        rag.close()


def test_another_stores_lexical_index_is_not_used(writable_index, embedder, expected, tmp_path):
    other_source = tmp_path / "other"
    other_source.mkdir()
    (other_source / "a.txt").write_text("Hợp tác quốc phòng\nViệt Nam và Nga hợp tác quốc phòng, bài khác.\n", "utf-8")
    other = tmp_path / "other-index"
    RAG.build([other_source], other, embedder).close()
    shutil.rmtree(writable_index / LEXICAL_DIR)
    shutil.copytree(other / LEXICAL_DIR, writable_index / LEXICAL_DIR)
    assert same(lexical_results(writable_index, embedder), expected)


def test_lexical_index_linked_outside_is_refused_and_the_target_untouched(writable_index, tmp_path):
    outside = tmp_path / "victim"
    outside.mkdir()
    (outside / "keep.txt").write_text("do not touch")
    shutil.rmtree(writable_index / LEXICAL_DIR)
    (writable_index / LEXICAL_DIR).symlink_to(outside)
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "search", "Nga", "--index-dir", str(writable_index)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "outside the index" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


def test_a_format_2_store_with_fts5_tables_is_upgraded_in_place(writable_index, embedder, expected):
    """The previous format kept the lexical index in FTS5 tables inside store.db."""
    shutil.rmtree(writable_index / LEXICAL_DIR)
    db = sqlite3.connect(writable_index / "store.db")
    db.execute("CREATE VIRTUAL TABLE lexical USING fts5(tokens, content='')")
    db.execute("CREATE VIRTUAL TABLE lexical_terms USING fts5vocab(lexical, 'row')")
    db.execute("INSERT INTO lexical(rowid, tokens) VALUES (1, 'viet nam')")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'format_version'")
    db.execute("INSERT INTO meta VALUES ('lexical_tokens', 'old')")
    db.commit()
    db.close()
    articles = titles_in(writable_index, embedder)

    assert same(lexical_results(writable_index, embedder), expected)
    db = sqlite3.connect(writable_index / "store.db")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert not {"lexical", "lexical_terms"} & tables
    assert db.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()[0] == "3"
    db.close()
    assert titles_in(writable_index, embedder) == articles


# ------------------------------------------------------------------ filters vs SQL
DATED = [("2021", "Một"), ("2021-12", "Hai"), ("2021-12-02", "Ba"), ("2022-01-15", "Bốn"), ("2020-06-30", "Năm"), (None, "Sáu"),
         ("2021-03-10", "Bảy")]


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory, embedder) -> Path:
    """Articles dated at every precision, from two sources, one undated, all sharing
    the word "cảng" so that one lexical query reaches all of them."""
    folder = tmp_path_factory.mktemp("dated")
    lines = []
    for i, (date, name) in enumerate(DATED):
        record = {"id": f"d{i}", "title": f"Bài {name} về cảng", "text": f"Bài {name} nói về cảng biển số {i}.",
                  "source": "vnexpress" if i % 2 else "tuoitre"}
        if date:
            record["date"] = date
        lines.append(__import__("json").dumps(record, ensure_ascii=False))
    (folder / "dated.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    directory = tmp_path_factory.mktemp("dated-index")
    RAG.build([folder], directory, embedder).close()
    return directory


FILTERS = [
    Filters(date_from="2021"), Filters(date_from="2021-12"), Filters(date_from="2021-12-02"), Filters(date_to="2021"),
    Filters(date_to="2021-12"), Filters(date_to="2021-11"), Filters(date_from="2021-06", date_to="2021-12-01"),
    Filters(sources={"vnexpress"}), Filters(sources={"tuoitre", "nowhere"}), Filters(doc_ids={"d1", "d4"}),
    Filters(doc_ids={"d2"}, date_from="2020"),
]


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_lexical_filters_select_what_the_sql_selects(dated_index, embedder, filters):
    rag = RAG.open(dated_index, embedder=embedder, seeds=None)
    try:
        store = rag.store
        found = store._lexical.search(["cang"], 100, filters)
        allowed = store._allowed_sql(filters)
        with store._reading() as conn:
            expected = {r[0] for r in conn.execute(f"SELECT id FROM chunks WHERE {allowed[0]}", allowed[1])}
        assert set(found) == expected
    finally:
        rag.close()


@pytest.mark.parametrize("dates", [["2021"], ["2021-12"], ["2021-12-02"], ["2022"], ["2020-06", "2022-01-15"], ["1999"]])
def test_lexical_date_matching_is_the_sql_date_matching(dated_index, embedder, dates):
    rag = RAG.open(dated_index, embedder=embedder, seeds=None)
    try:
        store = rag.store
        found = store._lexical.search(["cang"], 100, None, dates)
        with store._reading() as conn:
            keys = [r[0] for r in conn.execute("SELECT id FROM chunks")]
            expected = store._date_matches(conn, keys, dates)
        assert set(found) == expected
    finally:
        rag.close()


def test_date_numbers_sort_like_the_iso_strings():
    dates = ["2020-06-30", "2021", "2021-01", "2021-01-01", "2021-12", "2021-12-02", "2022"]
    assert [date_number(d) for d in dates] == sorted(date_number(d) for d in dates)
    assert date_number("2021", upper=True) > date_number("2021-12-31") > date_number("2021-12")
    assert date_number("not a date") == 0


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_dense_filters_select_what_the_sql_selects(dated_index, embedder, filters):
    """The same for the FAISS side (an id bitmap); some filters leave out the newest
    chunks, whose ids lie beyond the bitmap."""
    rag = RAG.open(dated_index, embedder=embedder, seeds=None)
    try:
        store = rag.store
        allowed = store._allowed_sql(filters)
        with store._reading() as conn:
            expected = {r[0] for r in conn.execute(f"SELECT id FROM chunks WHERE {allowed[0]}", allowed[1])}
            selector = store._selector(conn, filters, None, allowed)
        found = store._dense_top(embedder.embed_queries(["cảng biển"])[0], 100, selector) if selector is not False else {}
        assert set(found) == expected
    finally:
        rag.close()
