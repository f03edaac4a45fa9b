"""Adversarial tests of the store and the CLI: real processes, real files, nothing mocked.

Concurrent writers, readers during writes, kill -9 in the middle of a write, file
identity (same name in two folders, edits in place, JSONL lines), paths that point
outside the index, a full disk (file size limit and a small tmpfs), special files,
a damaged store, odd queries, odd encodings, an embedder that cannot be loaded.

To stay fast on two shared cores, these tests build their own small base index (a few
one-to-three-sentence articles) instead of the seed index, and run independent CLI
processes side by side where the test allows it. Every subprocess has a timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import unicodedata
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.clean import clean
from rag.index import embed_sentences, prepare
from rag.load import LoadError, load_path
from rag.pipeline import RAG
from rag.store import CorruptIndexError, open_store
from tests.conftest import NFD_ARTICLE, binary_samples

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "rag.cli"]
TIMEOUT_S = 120  # per subprocess; none should come near it

# ------------------------------------------------------------------------ articles
PLACES = ["Cần Thơ", "Huế", "Lào Cai", "Quảng Ninh", "Đà Lạt", "Nghệ An", "Bến Tre", "Hải Phòng", "Kon Tum", "Phú Yên",
          "Cà Mau", "Hà Giang"]
WORKS = ["khánh thành cầu mới", "mở phố đi bộ", "đón đoàn khách du lịch", "thả rùa biển", "trồng rừng ngập mặn",
         "xây trường học", "mở tuyến xe buýt", "tổ chức lễ hội hoa", "nâng cấp bệnh viện", "làm đường ven biển",
         "khai trương chợ đêm", "lắp đèn năng lượng mặt trời"]


def news(tag: str, i: int, sentences: int = 2) -> tuple[str, str]:
    """(title, file text) of a short, distinct Vietnamese article."""
    place, work = PLACES[i % len(PLACES)], WORKS[(i * 5 + len(tag)) % len(WORKS)]
    title = f"{place} {work} đợt {tag} {i}"
    body = [
        f"Ngày {i % 27 + 1}/5/2023, {place} {work} với tổng vốn {i + 3} tỷ đồng, mã dự án {tag}{i}.",
        f"Người dân {place} phấn khởi vì việc {work} giúp cuộc sống thuận tiện hơn.",
        f"Chính quyền cho biết đợt {tag} {i} sẽ hoàn thành trong {i % 9 + 2} tháng.",
    ][:sentences]
    return title, title + "\n" + "\n".join(body) + "\n"


def write_articles(folder: Path, tag: str, n: int, sentences: int = 2, start: int = 0) -> list[str]:
    """n article files in ``folder``; their titles."""
    folder.mkdir(parents=True, exist_ok=True)
    titles = []
    for i in range(start, start + n):
        title, text = news(tag, i, sentences)
        (folder / f"{tag}_{i}.txt").write_text(text, "utf-8")
        titles.append(title)
    return titles


BASE_TITLES: list[str] = []


@pytest.fixture(scope="module")
def base_index_dir(tmp_path_factory, embedder) -> Path:
    """A small built index (3 short articles). Read-only: copy it before changing it."""
    source = tmp_path_factory.mktemp("adv-base-articles")
    BASE_TITLES[:] = write_articles(source, "base", 3)
    directory = tmp_path_factory.mktemp("adv-base-index")
    RAG.build([source], directory, embedder).close()
    return directory


@pytest.fixture
def base_index(base_index_dir, tmp_path) -> Path:
    """A private copy of the base index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(base_index_dir, target)
    return target


def titles_in(index_dir: Path, embedder) -> list[str]:
    rag = RAG.open(index_dir, embedder=embedder, seeds=None)
    try:
        return sorted(a.title for a in rag.articles())
    finally:
        rag.close()


# ---------------------------------------------------------------------- processes
def _env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    # One OpenMP thread per process: several processes share two cores here.
    env.update(OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


def start(*args, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(env), **kwargs)


def finish(p: subprocess.Popen, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=30)
        raise AssertionError(f"{p.args[3:]} did not finish in {timeout} s\nstdout: {out[-1500:]}\nstderr: {err[-1500:]}") from None
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def cli(*args, timeout: float = TIMEOUT_S, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return finish(start(*args, env=env, **kwargs), timeout)


def cli_all(*commands, timeout: float = TIMEOUT_S) -> list[subprocess.CompletedProcess]:
    """Independent commands, side by side."""
    procs = [start(*c) for c in commands]
    return [finish(p, timeout) for p in procs]


# tqdm's progress bar ("embedding:  50%|█████ | 1/2 [...]") also goes to stderr; it is
# not a message, so it is not counted as a line of the error report.
_BAR = re.compile(r"^\s*[\w ]+:\s*\d+%\|")


def stderr_lines(stderr: str) -> list[str]:
    return [line for line in re.split(r"[\r\n]+", stderr) if line.strip() and not _BAR.match(line)]


def show(p: subprocess.CompletedProcess) -> str:
    return f"exit {p.returncode}\nstdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-3000:]}"


def assert_ok(p: subprocess.CompletedProcess) -> None:
    assert p.returncode == 0, show(p)
    assert "Traceback" not in p.stderr, show(p)


def assert_user_error(p: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2, one line on stderr starting with "error: ", no traceback; the line."""
    assert p.returncode == 2, show(p)
    assert "Traceback" not in p.stderr, show(p)
    lines = stderr_lines(p.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), show(p)
    for word in words:
        assert word.lower() in lines[0].lower(), f"'{word}' not in: {lines[0]}"
    return lines[0]


def tree(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every file under ``root`` (links not followed) with a hash of its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_symlink():
            found[str(path)] = "link:" + os.readlink(path)
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = "dir"
    return found


def checkpoint_wal(index_dir: Path) -> None:
    """Fold the WAL into store.db so that store.db alone holds the index."""
    conn = sqlite3.connect(index_dir / "store.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for name in ("store.db-wal", "store.db-shm"):
        (index_dir / name).unlink(missing_ok=True)


# ================================================================ 1. concurrent writers
def test_three_concurrent_indexers_into_an_existing_index(base_index, tmp_path, embedder):
    folders = []
    expected = list(BASE_TITLES)
    for n in range(3):
        folder = tmp_path / f"in{n}"
        expected += write_articles(folder, f"them{n}", 1)
        folders.append(folder)
    results = cli_all(*[("index", f, "--index-dir", base_index) for f in folders])
    for p in results:
        assert_ok(p)
        assert "indexed 1 new, 0 replaced" in p.stdout, show(p)
    assert titles_in(base_index, embedder) == sorted(expected)


# A process that runs `rag index FILE --index-dir DIR` (the CLI's own main) once for every
# DIR it reads on stdin, and answers with a line of JSON: exit status, stdout, stderr.
# Importing takes a process a second or more, and varies; the few milliseconds in which
# a new store is created are only hit by processes that start together, so these are
# started once, and each round's commands are released to all of them at the same time.
_INDEXER = """
import contextlib, io, json, sys, traceback
import rag.store.local
from rag.cli import main

for line in sys.stdin:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["index", sys.argv[1], "--index-dir", line.strip(), "--embedder", "hash:384"])
        except BaseException:
            rc = 1
            traceback.print_exc()
    print(json.dumps({"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}), flush=True)
"""


def test_concurrent_indexers_creating_a_new_index_all_succeed(tmp_path):
    """Four `rag index` at once into a directory with no index yet, one file each, for
    a number of rounds. Before store.db appeared only once complete, about one round in
    five failed: a process found the creator's still empty store.db and called the
    index damaged, or the creator could not switch that file to WAL ("database is
    locked") and left an empty store.db behind for good."""
    processes, rounds = 4, 30
    files, titles = [], []
    for n in range(processes):
        titles += write_articles(tmp_path / f"in{n}", f"moi{n}", 1)
        files.append(tmp_path / f"in{n}" / f"moi{n}_0.txt")
    workers = [subprocess.Popen([sys.executable, "-c", _INDEXER, str(f)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=_env()) for f in files]
    timer = threading.Timer(TIMEOUT_S * 2, lambda: [w.kill() for w in workers])  # a hung worker fails the test, not the run
    timer.start()
    try:
        for r in range(rounds):
            index = tmp_path / f"index{r}"  # does not exist yet
            for w in workers:
                w.stdin.write(f"{index}\n")
                w.stdin.flush()
            for f, w in zip(files, workers):
                line = w.stdout.readline()
                assert line, f"round {r}: the worker for {f.name} died: {w.stderr.read()[-2000:]}"
                result = json.loads(line)
                assert result["rc"] == 0 and "indexed 1 new" in result["stdout"], f"round {r}, {f.name}: {result}"
            rag = RAG.open(index, embedder="hash:384", seeds=None)
            try:
                assert sorted(a.title for a in rag.articles()) == sorted(titles), f"round {r}: an article was lost"
            finally:
                rag.close()
            assert not list(index.glob(".store-*")), f"round {r}: a temporary store was left behind"
    finally:
        timer.cancel()
        for w in workers:
            finish(w, timeout=30)  # closes its stdin: the worker's loop ends


# ======================================================== 2. readers while writers write
def test_reads_never_fail_while_two_processes_write(base_index, tmp_path, embedder):
    reader = RAG.open(base_index, embedder=embedder, seeds=None)
    base = reader.stats()["articles"]
    new_titles = write_articles(tmp_path / "w0", "ghi0", 3) + write_articles(tmp_path / "w1", "ghi1", 3)
    queries = ["Cần Thơ khánh thành cầu mới", "người dân phấn khởi", "dự án hoàn thành trong mấy tháng", "tổng vốn tỷ đồng"]
    errors: list[str] = []
    empty: list[str] = []
    seen_counts: list[int] = []
    writers_done = threading.Event()

    def read() -> None:
        for i in range(400):  # bounded; stops after 40 once the writers are done
            if i >= 40 and writers_done.is_set():
                return
            query = queries[i % len(queries)]
            try:
                if not reader.search(query, k=3):
                    empty.append(query)
                seen_counts.append(reader.stats()["articles"])
            except Exception as exc:  # noqa: BLE001 - any failed read is the finding
                errors.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        results = cli_all(("index", tmp_path / "w0", "--index-dir", base_index), ("index", tmp_path / "w1", "--index-dir", base_index))
    finally:
        writers_done.set()
        thread.join(timeout=120)
    assert not thread.is_alive(), "the reader did not finish"
    for p in results:
        assert_ok(p)
    assert errors == [], f"{len(errors)} failed reads, e.g. {errors[:3]}"
    assert empty == [], f"{len(empty)} searches returned nothing, e.g. {empty[:3]}"
    assert len(seen_counts) >= 40
    assert seen_counts == sorted(seen_counts), "a reader saw the article count go down"
    assert set(seen_counts) <= {base, base + 3, base + 6}, f"a reader saw a partial write: {sorted(set(seen_counts))}"
    # The long-lived reader catches up with both writes.
    assert reader.stats()["articles"] == base + 6
    hit = reader.search("mã dự án ghi12", k=1)[0]
    assert reader.article(hit.chunk.doc_id).title == news("ghi1", 2)[0]
    reader.close()
    assert titles_in(base_index, embedder) == sorted(BASE_TITLES + new_titles)


# ============================================================ 3. kill -9 during a write
def test_kill_9_during_index_keeps_the_last_commit(base_index, tmp_path, embedder):
    rng = random.Random(20240601)
    # What a checkpoint writer killed mid-file leaves behind; the next write removes it.
    (base_index / ".vectors-deadbeef.tmp").write_bytes(b"half a faiss file")
    expected = sorted(BASE_TITLES)
    for iteration in range(5):
        folder = tmp_path / f"batch{iteration}"
        batch = write_articles(folder, f"giet{iteration}", 2)
        command = ("index", folder, "--index-dir", base_index)
        p = subprocess.Popen([*CLI, *map(str, command)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        time.sleep(rng.uniform(0.2, 3.0))
        finished = p.poll() == 0
        p.kill()  # SIGKILL; a no-op if it has already finished
        p.wait(timeout=30)

        rag = RAG.open(base_index, embedder=embedder, seeds=None)
        try:
            titles = sorted(a.title for a in rag.articles())
            assert titles in (expected, sorted(expected + batch)), f"iteration {iteration}: a partial write is visible: {titles}"
            assert rag.stats()["articles"] == len(titles)
            assert rag.search("người dân phấn khởi", k=3), f"iteration {iteration}: no results after kill -9"
            # The lexical index is caught up on open, whatever the kill interrupted.
            assert rag.store._lexical._searcher.num_docs == rag.stats()["chunks"] + 1, "lexical index out of step (+1: its marker)"
        finally:
            rag.close()

        if not finished:  # killed: the same command, run again, completes the batch
            again = cli(*command)
            assert_ok(again)
            assert "indexed 2 new" in again.stdout or "nothing to do: all 2 articles" in again.stdout, show(again)
        expected = sorted(expected + batch)
        assert titles_in(base_index, embedder) == expected, f"iteration {iteration}"
    assert not list(base_index.glob(".vectors-*.tmp")), "temporary checkpoint files left behind"
    rag = RAG.open(base_index, embedder=embedder, seeds=None)
    assert rag.article(rag.search("mã dự án giet41", k=1)[0].chunk.doc_id).title == news("giet4", 1)[0]
    rag.close()


# ======================================================= 4. file identity across runs
def two_files(tmp_path: Path, name_a: str, name_b: str) -> tuple[Path, Path]:
    """Two different one-paragraph articles, in folders colA/ and colB/."""
    a, b = tmp_path / "colA" / name_a, tmp_path / "colB" / name_b
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_text("Cần Thơ mở hội chợ nông sản\nHội chợ trưng bày trái cây miền Tây trong năm ngày.\n", "utf-8")
    b.write_text("Hà Giang mùa hoa tam giác mạch\nDu khách kéo về cao nguyên đá ngắm hoa nở rộ.\n", "utf-8")
    return a, b


def test_same_file_name_in_two_folders_and_an_edit_in_place(base_index, tmp_path, embedder):
    a, b = two_files(tmp_path, "news.txt", "news.txt")
    base = len(BASE_TITLES)

    first = cli("index", a, "--index-dir", base_index)
    assert_ok(first)
    assert "indexed 1 new" in first.stdout, show(first)
    second = cli("index", b, "--index-dir", base_index)
    assert_ok(second)
    assert "indexed 1 new" in second.stdout, show(second)
    rag = RAG.open(base_index, embedder=embedder, seeds=None)
    infos = {i.title: i for i in rag.articles()}
    rag.close()
    assert len(infos) == base + 2
    assert infos["Cần Thơ mở hội chợ nông sản"].path != infos["Hà Giang mùa hoa tam giác mạch"].path

    again = cli("index", a, "--index-dir", base_index)
    assert_ok(again)
    assert "nothing to do" in again.stdout and "unchanged" in again.stdout, show(again)

    a.write_text("Cần Thơ mở hội chợ nông sản\nHội chợ năm nay có thêm gian hàng cá tra xuất khẩu sang châu Âu.\n", "utf-8")
    edited = cli("index", a.parent, "--index-dir", base_index)
    assert_ok(edited)
    assert "replaced" in edited.stdout and "1 replaced" in edited.stdout, show(edited)
    rag = RAG.open(base_index, embedder=embedder, seeds=None)
    try:
        assert rag.stats()["articles"] == base + 2, "an edit in place must not add an article"
        hit = rag.search("gian hàng cá tra xuất khẩu sang châu Âu", k=1)[0]
        assert "cá tra" in hit.chunk.text
        old = [i for i in rag.articles() if i.title == "Cần Thơ mở hội chợ nông sản"]
        assert len(old) == 1 and "trái cây miền Tây" not in rag.article(old[0].doc_id).text
        assert any(i.title == "Hà Giang mùa hoa tam giác mạch" for i in rag.articles())
    finally:
        rag.close()


def test_edit_in_place_to_the_text_of_another_indexed_file_drops_the_old_version(base_index, tmp_path, embedder):
    """A file edited so that its text becomes that of another indexed file (``cp b a``):
    the new content's article is already stored, yet the file's old version must go.
    It stayed searchable under a.txt, because an article already stored unchanged was
    skipped before the replacement of older versions by path ever ran."""
    a, b = two_files(tmp_path, "a.txt", "b.txt")
    base = len(BASE_TITLES)
    for f in (a, b):
        p = cli("index", f, "--index-dir", base_index)
        assert_ok(p)
        assert "indexed 1 new" in p.stdout, show(p)

    shutil.copyfile(b, a)
    edited = cli("index", a, "--index-dir", base_index)
    assert_ok(edited)
    # The file's article changed (to one the index already had): one replaced, none new.
    assert "indexed 0 new, 1 replaced, 0 unchanged" in edited.stdout, show(edited)
    assert f"index at {base_index}: {base + 1} articles" in edited.stdout, show(edited)
    rag = RAG.open(base_index, embedder=embedder, seeds=None)
    try:
        infos = {i.title: i for i in rag.articles()}
        assert "Cần Thơ mở hội chợ nông sản" not in infos, "the old version of a.txt is still indexed"
        assert all("trái cây miền Tây" not in h.chunk.text for h in rag.search("trái cây miền Tây", k=5, mode="bm25"))
        shared = infos["Hà Giang mùa hoa tam giác mạch"]
        # One row per article: it keeps the path it was first indexed from. (Taking
        # a.txt's would make the next edit of a.txt remove b.txt's article.)
        assert shared.path == str(b)
    finally:
        rag.close()

    again = cli("index", a, "--index-dir", base_index)
    assert_ok(again)
    assert "nothing to do: all 1 articles are already indexed, unchanged" in again.stdout, show(again)
    a.write_text("Cần Thơ mở hội chợ nông sản\nHội chợ năm nay có thêm gian hàng cá tra xuất khẩu.\n", "utf-8")
    moved_on = cli("index", a, "--index-dir", base_index)
    assert_ok(moved_on)
    assert "indexed 1 new, 0 replaced" in moved_on.stdout, show(moved_on)
    assert titles_in(base_index, embedder) == sorted(
        BASE_TITLES + ["Cần Thơ mở hội chợ nông sản", "Hà Giang mùa hoa tam giác mạch"]
    ), "b.txt's article must survive the next edit of a.txt"


def test_prepending_a_line_to_a_jsonl_file_loses_no_article(base_index, tmp_path, embedder):
    """JSONL records without id or URL: adding a record at the top of the file shifts
    every line number; the records already indexed are unchanged and must stay."""
    feed = tmp_path / "feed.jsonl"
    records = [{"title": t, "text": x} for t, x in (
        ("Cần Thơ khánh thành cầu", "Cần Thơ khánh thành cầu mới bắc qua sông Hậu."),
        ("Huế mở phố đi bộ", "Huế mở lại phố đi bộ ven sông Hương vào cuối tuần."),
        ("Lào Cai đón khách", "Lào Cai đón đoàn khách du lịch đầu tiên qua cửa khẩu."),
    )]
    feed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    rag = RAG.open(base_index, embedder=embedder, seeds=None)
    assert len(rag.add_paths([feed]).added) == 3
    records.insert(0, {"title": "Quảng Ninh thả rùa biển", "text": "Quảng Ninh thả rùa biển về vịnh Hạ Long."})
    feed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    report = rag.add_paths([feed])
    titles = sorted(i.title for i in rag.articles())
    rag.close()
    missing = sorted({r["title"] for r in records} - set(titles))
    assert not missing, f"records still in the file were removed from the index: {missing} (report: {report})"
    assert len(titles) == len(BASE_TITLES) + 4


# ============================================================ 5. paths pointing outside
def test_legacy_pointer_outside_the_index_is_refused_by_the_cli(tmp_path):
    """CURRENT naming "..", "../victim", or a snapshot name that is a link to the victim."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious", "utf-8")
    (victim / "manifest.json").write_text("{}", "utf-8")
    article = tmp_path / "article.txt"
    article.write_text(news("ngoai", 0)[1], "utf-8")
    indexes = {}
    for name, pointer in (("up", ".."), ("victim", "../victim"), ("link", "snap-20260101T000000-abcdef")):
        index = indexes[name] = tmp_path / "indexes" / name
        index.mkdir(parents=True)
        if pointer.startswith("snap-"):
            (index / pointer).symlink_to(victim, target_is_directory=True)
        (index / "CURRENT").write_text(pointer + "\n")
    before = tree(tmp_path)
    commands = [("index", article, "--index-dir", indexes["up"], "--rebuild"),
                ("search", "phố đi bộ", "--index-dir", indexes["victim"], "--json", "--k", "3"),
                ("index", article, "--index-dir", indexes["link"], "--rebuild")]
    for p in cli_all(*commands):
        assert_user_error(p)
    assert tree(tmp_path) == before, "files outside (or inside) the index were changed"


def test_store_file_linked_outside_is_refused_and_the_target_untouched(base_index_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "elsewhere.db"
    shutil.copyfile(base_index_dir / "store.db", target)
    (outside / "victim.txt").write_text("precious", "utf-8")
    article = tmp_path / "article.txt"
    article.write_text(news("lienket", 0)[1], "utf-8")

    linked = tmp_path / "linked"  # store.db -> a real database outside
    linked.mkdir()
    (linked / "store.db").symlink_to(target)
    dangling = tmp_path / "dangling"  # store.db -> a file that does not exist yet
    dangling.mkdir()
    (dangling / "store.db").symlink_to(outside / "new.db")
    wal = tmp_path / "wal"  # a real store whose WAL is a link to a victim file
    shutil.copytree(base_index_dir, wal)
    checkpoint_wal(wal)
    (wal / "store.db-wal").symlink_to(outside / "victim.txt")
    before = tree(outside)

    results = cli_all(
        ("search", "phố đi bộ", "--index-dir", linked, "--json"),
        ("index", article, "--index-dir", dangling),
        ("index", article, "--index-dir", wal),
    )
    for p in results:
        assert_user_error(p)
    assert tree(outside) == before, "a file outside the index was changed or created"


# ===================================================================== 6. full disk
def test_file_size_limit_during_a_write_is_reported_and_the_index_survives(tmp_path, embedder):
    index = tmp_path / "index"
    before = write_articles(tmp_path / "first", "dau", 1)
    RAG.build([tmp_path / "first"], index, embedder).close()
    write_articles(tmp_path / "many", "nhieu", 8, sentences=3)
    # Any file of the index may grow by 8 KiB at most: the new articles' WAL cannot fit.
    limit = max(f.stat().st_size for f in index.iterdir()) + 8 * 1024

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    p = cli("index", tmp_path / "many", "--index-dir", index, preexec_fn=limit_file_size)
    line = assert_user_error(p)
    assert "disk" in line.lower() and ("full" in line.lower() or "limit" in line.lower()), line
    rag = RAG.open(index, embedder=embedder, seeds=None)
    try:
        assert sorted(a.title for a in rag.articles()) == before
        assert rag.search("mã dự án dau0", k=1)[0].chunk.text
    finally:
        rag.close()


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted for the test, or a skip saying why there is none."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE test covers a full disk")
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc}); the RLIMIT_FSIZE test covers a full disk")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); the RLIMIT_FSIZE test covers a full disk")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def fill(mount_point: Path, leave: int) -> Path:
    """A filler file that leaves ``leave`` bytes free."""
    st = os.statvfs(mount_point)
    free = st.f_bavail * st.f_frsize
    filler = mount_point / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_full_disk_during_a_write_is_reported_and_the_index_survives(tmpfs, tmp_path, embedder):
    index = tmpfs / "index"
    before = write_articles(tmp_path / "first", "dau", 1)
    RAG.build([tmp_path / "first"], index, embedder).close()
    extra = write_articles(tmp_path / "many", "day", 4)
    filler = fill(tmpfs, 48 * 1024)  # room for SQLite's 32 KiB shared-memory file, not for the articles

    p = cli("index", tmp_path / "many", "--index-dir", index)
    assert_user_error(p, "disk", "full")
    rag = RAG.open(index, embedder=embedder, seeds=None)
    try:
        assert sorted(a.title for a in rag.articles()) == before
        assert rag.search("mã dự án dau0", k=1)
    finally:
        rag.close()

    filler.unlink()  # "free some space and run the command again"
    again = cli("index", tmp_path / "many", "--index-dir", index)
    assert_ok(again)
    assert titles_in(index, embedder) == sorted(before + extra)


def test_search_on_a_full_disk_does_not_call_the_index_damaged(tmpfs, tmp_path, embedder):
    index = tmpfs / "index"
    write_articles(tmp_path / "first", "dau", 1)
    RAG.build([tmp_path / "first"], index, embedder).close()
    filler = fill(tmpfs, 0)
    p = cli("search", "mã dự án dau0", "--index-dir", index, "--json")
    line = assert_user_error(p)
    # The index is intact: telling the user it is damaged and to rebuild it is wrong advice.
    assert "disk" in line.lower() and "full" in line.lower(), line
    assert "damaged" not in line and "rebuild" not in line, line
    filler.unlink()
    again = cli("search", "mã dự án dau0", "--index-dir", index, "--json")
    assert_ok(again)
    assert json.loads(again.stdout)["hits"]


# ================================================================== 7. special files
def test_special_files_are_skipped_in_a_folder_and_refused_on_their_own(base_index, tmp_path, embedder):
    folder = tmp_path / "mixed"
    good = write_articles(folder, "tot", 1)
    os.mkfifo(folder / "x.txt")
    (folder / "w.txt").write_bytes("Bão số 3 đổ bộ".encode() + b"\xff\xfe\xc3(" + b" vao dat lien.\n")
    (folder / "y.txt").mkdir()  # a directory with a supported suffix
    (folder / "z.txt").symlink_to(tmp_path / "missing-target.txt")  # a broken link

    # The folder, and the FIFO named on its own (into another index), side by side.
    p, direct = cli_all(("index", folder, "--index-dir", base_index),
                        ("index", folder / "x.txt", "--index-dir", tmp_path / "other-index"), timeout=60)
    assert_ok(p)
    assert "indexed 1 new" in p.stdout, show(p)
    warnings = [line for line in stderr_lines(p.stderr) if line.startswith("warning: skipped")]
    for name in ("x.txt", "w.txt", "z.txt"):
        assert any(name in w for w in warnings), f"no warning for {name}:\n{p.stderr[-2000:]}"
    assert titles_in(base_index, embedder) == sorted(BASE_TITLES + good)

    assert_user_error(direct, "x.txt")
    assert stat.S_ISFIFO(os.stat(folder / "x.txt").st_mode)


# ================================================================== 8. damaged store
@pytest.fixture
def damaged(base_index_dir, tmp_path) -> dict[str, Path]:
    """Two copies of the base index: store.db overwritten with garbage, and cut to half."""
    out = {}
    for kind in ("garbage", "half"):
        directory = tmp_path / kind
        shutil.copytree(base_index_dir, directory)
        checkpoint_wal(directory)
        db = directory / "store.db"
        if kind == "garbage":
            db.write_bytes(bytes(random.Random(7).randrange(256) for _ in range(db.stat().st_size)))
        else:
            os.truncate(db, db.stat().st_size // 2)
        out[kind] = directory
    return out


def test_damaged_store_is_reported_in_one_line_without_seed_advice(damaged):
    before = {kind: (d / "store.db").read_bytes() for kind, d in damaged.items()}
    results = cli_all(*[("search", "người dân phấn khởi", "--index-dir", d, "--json", "--k", "3") for d in damaged.values()])
    for kind, p in zip(damaged, results):
        line = assert_user_error(p)
        assert "seed" not in line.lower(), f"{kind}: {line}"
        # `rag search` builds a missing index from seeds/: a damaged one must not be replaced.
        assert (damaged[kind] / "store.db").read_bytes() == before[kind], f"{kind}: the damaged store was overwritten"


def test_the_remedy_a_damaged_store_message_gives_works(damaged, tmp_path, embedder):
    """If the message says to rebuild with `rag index PATH... --rebuild`, doing so must work."""
    titles = write_articles(tmp_path / "again", "lai", 1)
    index = damaged["garbage"]
    with pytest.raises(CorruptIndexError) as caught:
        RAG.open(index, embedder=embedder, seeds=None)
    if "--rebuild" not in str(caught.value):
        return  # the advice is something else; nothing to hold it to here
    rebuilt = cli("index", tmp_path / "again", "--index-dir", index, "--rebuild")
    assert_ok(rebuilt)
    assert titles_in(index, embedder) == titles


# ========================================================================= 9. queries
def test_nfd_question_finds_what_the_nfc_one_finds(base_index_dir, tmp_path, embedder):
    questions = ["Cần Thơ khánh thành cầu mới với tổng vốn bao nhiêu?", "Người dân Huế phấn khởi vì điều gì?"]
    queries = tmp_path / "queries.txt"
    lines = [form for q in questions for form in (q, unicodedata.normalize("NFD", q))]
    assert lines[0] != lines[1]
    queries.write_text("\n".join(lines) + "\n", "utf-8")
    p = cli("search", "--file", queries, "--index-dir", base_index_dir, "--json", "--k", "3")
    assert_ok(p)
    tops = [json.loads(line)["hits"][0]["chunk_id"] for line in p.stdout.splitlines()]
    assert len(tops) == 4 and tops[0] == tops[1] and tops[2] == tops[3], tops
    rag = RAG.open(base_index_dir, embedder=embedder, seeds=None)
    try:
        for q in questions:
            nfc = [h.chunk.chunk_id for h in rag.search(q, k=3)]
            nfd = [h.chunk.chunk_id for h in rag.search(unicodedata.normalize("NFD", q), k=3)]
            assert nfc == nfd
    finally:
        rag.close()


def test_out_of_range_k_is_refused_in_one_line(base_index_dir):
    results = cli_all(*[("search", "người dân phấn khởi", "--index-dir", base_index_dir, "--json", "--k", k) for k in ("0", "-1", "1000")])
    for p in results:
        assert_user_error(p, "k")
        assert p.stdout == "", show(p)


# ==================================================================== 10. encodings
def test_jsonl_integer_year_is_kept_and_a_boolean_date_names_its_line(base_index, tmp_path, embedder):
    year = tmp_path / "year.jsonl"
    year.write_text(json.dumps({"title": "Đà Lạt mùa hoa dã quỳ", "date": 2021, "text": "Hoa dã quỳ nở vàng các sườn đồi Đà Lạt."},
                               ensure_ascii=False) + "\n", "utf-8")
    rag = RAG.open(base_index, embedder=embedder, seeds=None)
    try:
        try:
            added = rag.add_paths([year]).added
        except LoadError as exc:  # refusing is allowed, if the message names the line
            assert "year.jsonl:1" in str(exc), str(exc)
        else:
            assert len(added) == 1
            assert next(i for i in rag.articles() if i.doc_id == added[0]).date == "2021"
    finally:
        rag.close()

    before = titles_in(base_index, embedder)
    boolean = tmp_path / "bool.jsonl"
    boolean.write_text(
        json.dumps({"title": "Phú Yên mùa cá ngừ", "date": "2023-04-01", "text": "Ngư dân Phú Yên trúng mùa cá ngừ đại dương."},
                   ensure_ascii=False) + "\n"
        + json.dumps({"title": "Bến Tre mùa dừa", "date": True, "text": "Nông dân Bến Tre được mùa dừa sáp."}, ensure_ascii=False) + "\n",
        "utf-8",
    )
    p = cli("index", boolean, "--index-dir", base_index)
    assert_user_error(p, "bool.jsonl:2", "date")
    assert titles_in(base_index, embedder) == before, "a refused file must not be half indexed"


def test_nfd_utf16_without_bom_is_indexed_and_binary_files_are_still_skipped(base_index, tmp_path, embedder):
    """Decomposed Vietnamese saved as UTF-16 without a BOM was skipped as "binary"
    (U+0300, the grave accent, has a zero low byte); PNG, zip and random bytes named
    .txt must still be skipped in a folder and refused on their own."""
    folder = tmp_path / "utf16"
    folder.mkdir()
    for encoding in ("le", "be"):
        (folder / f"nfd_{encoding}.txt").write_bytes(NFD_ARTICLE.replace("420", f"420 ({encoding})").encode(f"utf-16-{encoding}"))
    for kind, data in binary_samples().items():
        (folder / f"{kind}.txt").write_bytes(data)

    p, direct = cli_all(("index", folder, "--index-dir", base_index), ("index", folder / "png.txt", "--index-dir", tmp_path / "other"))
    assert_ok(p)
    assert "indexed 2 new" in p.stdout, show(p)
    warnings = [line for line in stderr_lines(p.stderr) if line.startswith("warning: skipped")]
    expected = [f"warning: skipped {kind}.txt: looks like a binary file, not text" for kind in ("png", "random", "zip")]
    assert sorted(warnings) == expected, show(p)
    assert_user_error(direct, "png.txt: looks like a binary file, not text")

    rag = RAG.open(base_index, embedder=embedder, seeds=None)
    try:
        new = [a for a in rag.articles() if a.title not in BASE_TITLES]
        assert [a.title for a in new] == ["Hà Nội khánh thành cầu vượt mới"] * 2, [a.title for a in new]
        for info in new:
            text = rag.article(info.doc_id).text
            assert unicodedata.is_normalized("NFC", text) and "thành phố Hà Nội khánh thành cầu vượt dài 420" in text, text
        # Found by an NFC question: the text was normalised when indexed.
        assert rag.search("cầu vượt dài 420 mét ở quận Đống Đa", k=1)[0].chunk.doc_id in {a.doc_id for a in new}
    finally:
        rag.close()


# ========================================================== 11. unreachable embedder
def test_embedder_that_cannot_be_loaded_fails_fast_in_one_line(tmp_path):
    article = tmp_path / "a.txt"
    article.write_text(news("mohinh", 0)[1], "utf-8")
    index = tmp_path / "new-index"
    # What failing cannot avoid, timed now since the machine's load varies: starting
    # Python and importing sentence-transformers. Hub retries would add about 80 s.
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import sentence_transformers"], env=_env(), check=True, timeout=TIMEOUT_S)
    imports = time.monotonic() - started
    started = time.monotonic()
    p = cli("index", article, "--index-dir", index, env={"RAG_EMBEDDER": "st:some-org/not-a-model"}, timeout=TIMEOUT_S)
    elapsed = time.monotonic() - started
    assert_user_error(p, "not-a-model")
    assert elapsed < imports + 20, f"took {elapsed:.0f} s to fail ({imports:.0f} s of it importing)"
    assert not (index / "store.db").exists(), "a failed first `rag index` left an index behind"


# ================================================ interrupted migration of the old format
def test_migration_interrupted_after_the_store_was_created_is_finished_on_next_open(tmp_path, embedder):
    """kill -9 between the creation of store.db and the commit of the migrated articles
    leaves an empty store.db beside CURRENT and the snapshot. That state is made here
    (an empty store moved in), and the next open must still find every old article."""
    source = tmp_path / "src"
    titles = write_articles(source, "cu", 2)
    prepared = prepare([clean(r) for r in load_path(source)], embedder)
    directory = tmp_path / "old"
    snapshot = directory / "snap-20260101T000000-abcdef"
    snapshot.mkdir(parents=True)
    offset = 0
    with open(snapshot / "articles.jsonl", "w", encoding="utf-8") as f:
        for p in prepared:
            record = {k: v for k, v in asdict(p.article).items() if k != "identity"}
            f.write(json.dumps(record | {"sentences": p.sentences, "sentence_offset": offset}, ensure_ascii=False) + "\n")
            offset += len(p.sentences)
    with open(snapshot / "chunks.jsonl", "w", encoding="utf-8") as f:
        for p in prepared:
            for c in p.chunks:
                f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    sentence_vectors = embed_sentences([(p.article.text, p.sentences) for p in prepared], embedder)  # the old format had them all
    np.save(snapshot / "sentences.npy", np.vstack(sentence_vectors), allow_pickle=False)
    dense = faiss.IndexFlatIP(embedder.dim)
    dense.add(np.vstack([p.chunk_vectors for p in prepared]))
    faiss.write_index(dense, str(snapshot / "dense.faiss"))
    (snapshot / "manifest.json").write_text(json.dumps({"format_version": 1, "embedder": embedder.spec, "dim": embedder.dim}))
    (directory / "CURRENT").write_text(snapshot.name + "\n")

    # The state a migration killed after creating the store leaves behind.
    empty = tmp_path / "empty"
    open_store(empty, embedder.spec, embedder.dim, create=True).close()
    shutil.move(str(empty / "store.db"), directory / "store.db")

    assert titles_in(directory, embedder) == sorted(titles), "the old articles were lost by an interrupted migration"
