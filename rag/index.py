"""The on-disk index: FAISS over chunk vectors, BM25 over folded tokens, the chunk and
article store as JSONL, sentence vectors for answer extraction, and a manifest.

Layout (nothing here is a pickle)::

    index/CURRENT                 name of the live snapshot, replaced atomically
    index/snap-<time>-<rand>/
        manifest.json             format, embedder, dimension, chunking, article hashes
        articles.jsonl            cleaned articles with their sentence spans
        chunks.jsonl              chunk text, offsets and metadata
        dense.faiss               IndexFlatIP over L2-normalised chunk vectors
        sentences.npy             one vector per sentence, for picking answer sentences
        bm25/                     bm25s index over diacritic-folded tokens

A save writes a whole new snapshot and then swaps ``CURRENT``, so a crash or a failed
upload can never leave a half-written index on disk: readers see the old one or the
new one. In memory, ``add`` embeds everything before changing anything.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import bm25s
import faiss
import numpy as np

from rag.chunk import MAX_CHUNK_TOKENS, OVERLAP_SENTENCES, Chunk, chunk_article, sentence_spans
from rag.clean import Article
from rag.embed import Embedder
from rag.text import words

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)

FORMAT_VERSION = 1
REBUILD_HINT = "rebuild it with `rag index seeds/ --rebuild` (or your own article folder)"

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class IndexError_(RuntimeError):
    """Base for index problems; messages say how to fix them."""


class NoIndexError(IndexError_):
    pass


class IndexMismatchError(IndexError_):
    pass


class CorruptIndexError(IndexError_):
    pass


@dataclass
class StoredArticle:
    article: Article
    sentences: list[tuple[int, int]]
    sentence_vectors: np.ndarray
    chunks: list[Chunk]
    chunk_vectors: np.ndarray


class Index:
    def __init__(self, embedder: Embedder, articles: dict[str, StoredArticle] | None = None, built_at: float | None = None):
        self.embedder = embedder
        self.articles: dict[str, StoredArticle] = dict(articles or {})
        self.built_at = built_at or time.time()
        self.snapshot: str | None = None  # the snapshot this index was loaded from or saved as
        self._assemble()

    # ------------------------------------------------------------------ build
    def add(self, articles: Iterable[Article], progress: Progress | None = None) -> tuple[list[str], list[str]]:
        """Add or replace articles; those whose content hash is unchanged are skipped.
        Returns (indexed doc_ids, skipped doc_ids). The index on disk is untouched
        until ``save``."""
        todo, skipped = [], []
        for article in articles:
            known = self.articles.get(article.doc_id)
            if known and known.article.content_hash == article.content_hash:
                skipped.append(article.doc_id)
            else:
                todo.append(article)
        if not todo:
            return [], skipped
        count = self.embedder.token_count
        prepared = []
        for article in todo:
            if not article.text.strip():
                raise ValueError(f"{article.doc_id}: nothing left after cleaning; is this a news article?")
            spans = sentence_spans(article, count)
            prepared.append((article, spans, chunk_article(article, count, spans=spans)))
        total = sum(len(s) + len(c) for _, s, c in prepared)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress("embedding", done, total)

        # Embed everything first: if one article fails, the index is as it was.
        added = {}
        for article, spans, chunks in prepared:
            sentence_vectors = self.embedder.embed_passages([article.text[s:e] for s, e in spans], progress=tick)
            chunk_vectors = self.embedder.embed_passages([c.embedding_text() for c in chunks], progress=tick)
            added[article.doc_id] = StoredArticle(article, spans, sentence_vectors, chunks, chunk_vectors)
        self.articles.update(added)
        self.built_at = time.time()
        self._assemble()
        return [a.doc_id for a in todo], skipped

    def remove(self, doc_ids: Iterable[str]) -> list[str]:
        removed = [d for d in doc_ids if self.articles.pop(d, None) is not None]
        if removed:
            self.built_at = time.time()
            self._assemble()
        return removed

    def _assemble(self, bm25: bm25s.BM25 | None = None) -> None:
        """Flat views over all articles: chunk list, FAISS, BM25 (rebuilt unless given)."""
        self.chunks: list[Chunk] = [c for a in self.articles.values() for c in a.chunks]
        self.chunk_article: list[str] = [c.doc_id for c in self.chunks]
        dim = self.embedder.dim
        vectors = [a.chunk_vectors for a in self.articles.values()]
        matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
        self.faiss = faiss.IndexFlatIP(dim)
        if len(matrix):
            self.faiss.add(matrix)
        if bm25 is None:
            bm25 = bm25s.BM25()
            if self.chunks:
                bm25.index([bm25_tokens(c.title + "\n" + c.text) for c in self.chunks], show_progress=False)
        self.bm25 = bm25
        self.vocabulary: set[str] = set(getattr(bm25, "vocab_dict", None) or ())
        self._idf: dict[str, float] | None = None  # computed on first use by idf()

    def idf(self) -> dict[str, float]:
        """IDF of every BM25 term over the chunks (title included), for answer scoring."""
        if self._idf is None:
            df = Counter(t for c in self.chunks for t in set(bm25_tokens(c.title + "\n" + c.text)))
            n = max(len(self.chunks), 1)
            self._idf = {t: math.log(1 + n / (1 + d)) for t, d in df.items()}
        return self._idf

    def restore(self, articles: dict[str, StoredArticle]) -> None:
        """Put back an earlier set of articles (undoing a change whose save failed)."""
        self.articles = dict(articles)
        self.built_at = time.time()
        self._assemble()

    # -------------------------------------------------------------- persist
    def save(self, directory: str | Path) -> Path:
        """Write a new snapshot and make it the live one. Refuses if another process
        saved since this index was loaded: writing now would drop its articles."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        live = _live_snapshot_name(directory)
        if live and self.snapshot and live != self.snapshot:
            raise IndexError_(f"the index at {directory} was changed by another process since it was loaded; reload it and try again")
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
        try:
            self._write_snapshot(staging)
            name = f"snap-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
            os.replace(staging, directory / name)
            _atomic_write(directory / "CURRENT", name + "\n")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if live:
            shutil.rmtree(directory / live, ignore_errors=True)
        self.snapshot = name
        log.info("saved index: %d articles, %d chunks -> %s", len(self.articles), len(self.chunks), directory / name)
        return directory / name

    def _write_snapshot(self, path: Path) -> None:
        sentence_rows = 0
        with open(path / "articles.jsonl", "w", encoding="utf-8") as f:
            for stored in self.articles.values():
                record = asdict(stored.article) | {"sentences": stored.sentences, "sentence_offset": sentence_rows}
                sentence_rows += len(stored.sentences)
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        with open(path / "chunks.jsonl", "w", encoding="utf-8") as f:
            for chunk in self.chunks:
                f.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
        sentences = [a.sentence_vectors for a in self.articles.values()]
        matrix = np.vstack(sentences) if sentences else np.zeros((0, self.embedder.dim), np.float32)
        np.save(path / "sentences.npy", matrix.astype(np.float32), allow_pickle=False)
        faiss.write_index(self.faiss, str(path / "dense.faiss"))
        if self.chunks:
            self.bm25.save(str(path / "bm25"))
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedder": self.embedder.spec,
            "dim": self.embedder.dim,
            "chunking": {"max_tokens": MAX_CHUNK_TOKENS, "overlap_sentences": OVERLAP_SENTENCES},
            "articles": {d: a.article.content_hash for d, a in self.articles.items()},
            "n_chunks": len(self.chunks),
            "n_sentences": int(matrix.shape[0]),
            "built_at": self.built_at,
        }
        _atomic_write(path / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, directory: str | Path, embedder_for: Callable[[str], Embedder]) -> Index:
        """Load the live snapshot. ``embedder_for(spec)`` gives the embedder for the spec
        the manifest records, or raises IndexMismatchError if the user asked for another."""
        directory = Path(directory)
        snapshot = current_snapshot(directory)
        manifest = read_manifest(directory)
        embedder = embedder_for(manifest["embedder"])
        if embedder.dim != manifest.get("dim"):
            raise IndexMismatchError(
                f"index at {directory} has {manifest.get('dim')}-d vectors but {embedder.spec} makes {embedder.dim}-d; {REBUILD_HINT}"
            )
        try:
            # split("\n"), not splitlines(): JSON strings may hold U+2028 and other
            # characters that splitlines() also breaks on.
            articles = [json.loads(line) for line in (snapshot / "articles.jsonl").read_text("utf-8").split("\n") if line]
            chunks = [json.loads(line) for line in (snapshot / "chunks.jsonl").read_text("utf-8").split("\n") if line]
            sentence_matrix = np.load(snapshot / "sentences.npy", allow_pickle=False)
            dense = faiss.read_index(str(snapshot / "dense.faiss"))
            bm25 = bm25s.BM25.load(str(snapshot / "bm25")) if chunks else None
        except (OSError, ValueError, RuntimeError) as exc:
            raise CorruptIndexError(f"index at {directory} is damaged ({exc}); {REBUILD_HINT}") from exc
        counts = (dense.ntotal, len(chunks), sentence_matrix.shape[0])
        if counts != (manifest.get("n_chunks"), manifest.get("n_chunks"), manifest.get("n_sentences")):
            raise CorruptIndexError(f"index at {directory} is inconsistent (vector and chunk counts differ); {REBUILD_HINT}")
        chunk_vectors = dense.reconstruct_n(0, dense.ntotal) if dense.ntotal else np.zeros((0, embedder.dim), np.float32)
        by_doc: dict[str, list[int]] = {}
        for i, c in enumerate(chunks):
            by_doc.setdefault(c["doc_id"], []).append(i)
        stored = {}
        for record in articles:
            spans = [tuple(s) for s in record.pop("sentences")]
            offset = record.pop("sentence_offset")
            article = Article(**record)
            rows = by_doc.get(article.doc_id, [])
            stored[article.doc_id] = StoredArticle(
                article=article,
                sentences=spans,
                sentence_vectors=sentence_matrix[offset : offset + len(spans)],
                chunks=[_chunk_from_json(chunks[i]) for i in rows],
                chunk_vectors=chunk_vectors[rows] if rows else np.zeros((0, embedder.dim), np.float32),
            )
        index = cls.__new__(cls)
        index.embedder = embedder
        index.articles = stored
        index.built_at = manifest.get("built_at", time.time())
        index.snapshot = snapshot.name
        index._assemble(bm25)
        return index

    # -------------------------------------------------------------- access
    def sentence_vectors_for(self, chunk: Chunk) -> tuple[list[tuple[int, int]], np.ndarray]:
        stored = self.articles[chunk.doc_id]
        rows = [i for i, span in enumerate(stored.sentences) if chunk.start <= span[0] and span[1] <= chunk.end]
        return [stored.sentences[i] for i in rows], stored.sentence_vectors[rows]


def bm25_tokens(text: str) -> list[str]:
    """Folded syllables plus adjacent syllable pairs. Most Vietnamese words have two
    syllables, and folding merges distinct syllables ("nhất", "Nhật" -> "nhat"); the
    pair "nhat_tri" keeps "nhất trí" (agree) apart from "Nhật Bản" (Japan)."""
    syllables = words(text)
    return syllables + [f"{a}_{b}" for a, b in zip(syllables, syllables[1:])]


def _live_snapshot_name(directory: Path) -> str | None:
    pointer = directory / "CURRENT"
    return pointer.read_text("utf-8").strip() if pointer.exists() else None


def current_snapshot(directory: Path) -> Path:
    pointer = directory / "CURRENT"
    if not pointer.exists():
        raise NoIndexError(f"no index at {directory}; build one with `rag index seeds/`")
    snapshot = directory / pointer.read_text("utf-8").strip()
    if not snapshot.is_dir():
        raise CorruptIndexError(f"index at {directory} points to a missing snapshot; {REBUILD_HINT}")
    return snapshot


def read_manifest(directory: str | Path) -> dict:
    snapshot = current_snapshot(Path(directory))
    try:
        manifest = json.loads((snapshot / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(f"index at {directory} has an unreadable manifest ({exc}); {REBUILD_HINT}") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {directory} has format {manifest.get('format_version')}, this version reads format {FORMAT_VERSION}; {REBUILD_HINT}"
        )
    return manifest


def _chunk_from_json(record: dict) -> Chunk:
    record = dict(record)
    record["sentences"] = [tuple(s) for s in record["sentences"]]
    return Chunk(**record)


def _atomic_write(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
