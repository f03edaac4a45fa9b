"""Sentence vectors embedded lazily: indexing embeds chunks only, the first answer that
reads an article embeds its sentences and saves them, later answers read them back.
Real embedder, real store files; the database is inspected with sqlite3."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from rag.pipeline import RAG
from rag.read import CANDIDATE_PASSAGES
from rag.store import Filters
from tests.conftest import EXAMPLES, SEEDS

JAPAN, RUSSIA_2021, EU_2023 = "928598893a65ddec", "2984af66f89cc659", "fcbcc136c822d78f"
QUESTIONS = [
    *EXAMPLES,
    "Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?",
    "When did Vietnam and the EU sign the FPA?",
    "What did Vietnam and France agree about nuclear power plants?",  # abstains
]


@pytest.fixture(scope="module")
def fresh_index_dir(tmp_path_factory, embedder) -> Path:
    """The seeds indexed and never asked anything (the session's seed index is)."""
    directory = tmp_path_factory.mktemp("lazy-index")
    RAG.build([SEEDS], directory, embedder).close()
    return directory


@pytest.fixture
def lazy_index(fresh_index_dir, tmp_path) -> Path:
    target = tmp_path / "lazy"
    shutil.copytree(fresh_index_dir, target)
    return target


def stored_vectors(index: Path) -> dict[str, bytes | None]:
    with sqlite3.connect(index / "store.db") as conn:
        return dict(conn.execute("SELECT doc_id, sentence_vectors FROM articles"))


def fill_eagerly(rag: RAG) -> None:
    """What indexing stored before: each article's sentences embedded on their own."""
    with sqlite3.connect(rag.store.directory / "store.db") as conn:
        for info in rag.articles():
            article = rag.article(info.doc_id)
            spans, _ = rag.store.sentences(info.doc_id)
            vectors = rag.embedder.embed_passages([article.text[s:e] for s, e in spans])
            conn.execute("UPDATE articles SET sentence_vectors = ? WHERE doc_id = ?", (vectors.astype(np.float32).tobytes(), info.doc_id))


def summary(answer) -> dict:
    return {
        "answer": answer.answer, "abstained": answer.abstained, "evidence": answer.evidence,
        "citations": [(c.chunk_id, c.quote, c.quote_spans) for c in answer.citations],
        "sentences": [asdict(s) for s in answer.sentences],
    }


def test_indexing_embeds_no_sentence(fresh_index_dir):
    vectors = stored_vectors(fresh_index_dir)
    assert len(vectors) == 5 and all(v is None for v in vectors.values())
    with sqlite3.connect(fresh_index_dir / "store.db") as conn:
        # The spans are stored at index time all the same.
        assert all(n > 0 for (n,) in conn.execute("SELECT json_array_length(sentences) FROM articles"))


def test_first_answer_embeds_exactly_the_articles_it_read(lazy_index, embedder):
    rag = RAG.open(lazy_index, embedder=embedder, seeds=None)
    generation = rag.stats()["generation"]
    answer = rag.ask("Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?", k=CANDIDATE_PASSAGES)
    assert "51.000" in answer.answer
    read = {h.chunk.doc_id for h in answer.passages}  # k = every passage whose sentences were scored
    filled = {d for d, v in stored_vectors(lazy_index).items() if v is not None}
    assert filled == read and len(read) < 5
    for doc_id in filled:
        spans, vectors = rag.store.sentences(doc_id)
        article = rag.article(doc_id)
        assert vectors.shape == (len(spans), embedder.dim)
        assert np.array_equal(vectors, embedder.embed_passages([article.text[s:e] for s, e in spans]))
    assert rag.stats()["generation"] == generation, "saving sentence vectors changes no search"


def test_filtered_answer_embeds_only_the_filtered_articles(lazy_index, embedder):
    """Filters keep the answer to two articles: only those of them whose passages were
    read get vectors (the 2021 article's 17 passages can fill all 15 read)."""
    rag = RAG.open(lazy_index, embedder=embedder, seeds=None)
    answer = rag.ask("What did Vietnam and Russia agree in 2021?", k=CANDIDATE_PASSAGES,
                     filters=Filters(doc_ids={RUSSIA_2021, EU_2023}))
    read = {h.chunk.doc_id for h in answer.passages}
    assert RUSSIA_2021 in read and read <= {RUSSIA_2021, EU_2023}
    assert {d for d, v in stored_vectors(lazy_index).items() if v is not None} == read


def test_later_answers_read_the_saved_vectors(lazy_index, embedder):
    first = RAG.open(lazy_index, embedder=embedder, seeds=None)
    expected = summary(first.ask(EXAMPLES[1]))
    saved = stored_vectors(lazy_index)
    assert any(v is not None for v in saved.values())

    # A fresh RAG on the same files: the same answer, and the saved vectors untouched.
    second = RAG.open(lazy_index, embedder=embedder, seeds=None)
    assert summary(second.ask(EXAMPLES[1])) == expected
    after = stored_vectors(lazy_index)
    assert {d: after[d] for d, v in saved.items() if v is not None} == {d: v for d, v in saved.items() if v is not None}

    # What the answer quotes comes from those stored vectors: zeroed in the database, the
    # best sentence cosine is 0 and the answer abstains (re-embedded, it would be ~0.9).
    with sqlite3.connect(lazy_index / "store.db") as conn:
        for doc_id, blob in after.items():
            if blob is not None:
                conn.execute("UPDATE articles SET sentence_vectors = zeroblob(?) WHERE doc_id = ?", (len(blob), doc_id))
    zeroed = RAG.open(lazy_index, embedder=embedder, seeds=None).ask(EXAMPLES[1])
    assert zeroed.abstained and zeroed.evidence["cosine"] == 0.0


def test_lazy_answers_equal_eager_ones(lazy_index, embedder, tmp_path):
    eager_dir = tmp_path / "eager"
    shutil.copytree(lazy_index, eager_dir)
    eager = RAG.open(eager_dir, embedder=embedder, seeds=None)
    fill_eagerly(eager)
    assert all(v is not None for v in stored_vectors(eager_dir).values())
    lazy = RAG.open(lazy_index, embedder=embedder, seeds=None)
    for question in QUESTIONS:
        assert summary(lazy.ask(question)) == summary(eager.ask(question)), question
    # And what was saved lazily is, bit for bit, what eager indexing stored.
    eager_vectors = stored_vectors(eager_dir)
    lazy_vectors = stored_vectors(lazy_index)
    assert any(v is not None for v in lazy_vectors.values())
    assert all(v == eager_vectors[d] for d, v in lazy_vectors.items() if v is not None)


def test_replaced_article_loses_its_vectors(lazy_index, embedder, tmp_path):
    path = tmp_path / "news.jsonl"
    record = {"id": "cau-moi", "title": "Khánh thành cầu mới", "date": "2024-05-01",
              "text": "Hà Nội khánh thành cầu mới dài 420 mét. Cây cầu nối hai quận phía bắc thành phố."}
    path.write_text(json.dumps(record, ensure_ascii=False), "utf-8")
    rag = RAG.open(lazy_index, embedder=embedder, seeds=None)
    rag.add_paths([path])
    only = Filters(doc_ids={"cau-moi"})
    assert "420" in rag.ask("Cầu mới ở Hà Nội dài bao nhiêu mét?", filters=only).answer
    assert stored_vectors(lazy_index)["cau-moi"] is not None

    path.write_text(json.dumps(record | {"text": record["text"].replace("420", "510")}, ensure_ascii=False), "utf-8")
    assert rag.add_paths([path]).replaced == ["cau-moi"]
    assert stored_vectors(lazy_index)["cau-moi"] is None
    assert "510" in rag.ask("Cầu mới ở Hà Nội dài bao nhiêu mét?", filters=only).answer
    assert stored_vectors(lazy_index)["cau-moi"] is not None


def test_vectors_of_a_replaced_version_are_not_saved(lazy_index, embedder):
    """Vectors embedded from an article's old text, saved after it was replaced, are refused."""
    rag = RAG.open(lazy_index, embedder=embedder, seeds=None)
    spans, vectors = rag.store.sentences(JAPAN)
    assert vectors is None
    matrix = np.ones((len(spans), embedder.dim), np.float32)
    assert rag.store.save_sentence_vectors([(JAPAN, "hash of an older version", matrix)]) == 0
    assert rag.store.save_sentence_vectors([(JAPAN, rag.article(JAPAN).content_hash, matrix[:-1])]) == 0  # other sentence count
    assert stored_vectors(lazy_index)[JAPAN] is None
    assert rag.store.save_sentence_vectors([(JAPAN, rag.article(JAPAN).content_hash, matrix)]) == 1
    assert rag.store.save_sentence_vectors([(JAPAN, rag.article(JAPAN).content_hash, matrix * 2)]) == 0  # kept once
    assert np.array_equal(rag.store.sentences(JAPAN)[1], matrix)


def test_busy_store_answers_without_saving(lazy_index, embedder):
    """Another writer holds the lock: the answer waits about SAVE_WAIT_S, not LOCK_WAIT_S,
    and is the same; the vectors are embedded again next time."""
    rag = RAG.open(lazy_index, embedder=embedder, seeds=None)
    writer = sqlite3.connect(lazy_index / "store.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        busy = rag.ask(EXAMPLES[0])
        elapsed = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert all(v is None for v in stored_vectors(lazy_index).values())
    assert elapsed < 60, f"waited {elapsed:.0f} s for the writer"
    assert summary(rag.ask(EXAMPLES[0])) == summary(busy)
    assert any(v is not None for v in stored_vectors(lazy_index).values())


def test_store_made_before_lazy_vectors_keeps_working(lazy_index, embedder, tmp_path):
    """A store of format 2 (every article with vectors, the column NOT NULL, FTS5
    tables instead of tantivy) is upgraded on open: it answers as before, keeps every
    vector, and takes new articles without vectors."""
    rag = RAG.open(lazy_index, embedder=embedder, seeds=None)
    fill_eagerly(rag)
    expected = summary(rag.ask(EXAMPLES[0]))
    rag.close()
    with sqlite3.connect(lazy_index / "store.db") as conn:
        sql = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'articles'").fetchone()[0]
        conn.execute(sql.replace("CREATE TABLE articles", "CREATE TABLE old").replace("vectors BLOB", "vectors BLOB NOT NULL"))
        conn.execute("INSERT INTO old SELECT * FROM articles")
        conn.execute("DROP TABLE articles")
        conn.execute("ALTER TABLE old RENAME TO articles")
        conn.execute("CREATE INDEX articles_path ON articles(path)")
        conn.execute("CREATE VIRTUAL TABLE lexical USING fts5(tokens, content='')")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'format_version'")
    shutil.rmtree(lazy_index / "lexical")
    before = stored_vectors(lazy_index)

    old = RAG.open(lazy_index, embedder=embedder, seeds=None)
    assert summary(old.ask(EXAMPLES[0])) == expected
    path = tmp_path / "new.txt"
    path.write_text("Đà Nẵng mở tuyến xe buýt điện đầu tiên vào năm 2025.", "utf-8")
    [new_id] = old.add_paths([path]).added
    after = stored_vectors(lazy_index)
    assert after.pop(new_id) is None and after == before
    assert "xe buýt điện" in old.ask("Đà Nẵng mở tuyến xe buýt gì?", filters=Filters(doc_ids={new_id})).answer
    assert stored_vectors(lazy_index)[new_id] is not None
