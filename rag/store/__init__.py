"""Storage: where articles, chunks, vectors and the lexical index live.

Everything above this package (retrieval, answers, the CLI, the UI) talks to a
``Store``, a small protocol, and never to an engine. One module per engine, chosen by
``RAG_STORE`` or ``--store`` (``open_store``):

- ``faiss`` (default), ``rag.store.local``: the embedded store. SQLite (WAL) holds
  articles, chunks and vectors in one transactional file; FAISS serves the vectors and
  tantivy the lexical index, both derived from SQLite's change log.
- ``milvus``, ``milvus:PATH.db``, ``milvus://HOST:PORT``, ``rag.store.milvus``: Milvus
  Lite in the index folder or a given file, or a Milvus server or cluster.

A store answers one kind of query, ``candidates``: the top ``n`` chunks by dense score
and the top ``n`` by lexical score (each also among the chunks that match the
question's dates), with both scores filled in for every candidate. Fusion happens
above, in ``rag.retrieve``, over those few hundred candidates, never over the corpus.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.chunk import Chunk
from rag.clean import Article
from rag.dates import date_number


class StoreError(RuntimeError):
    """Base for index problems; every message says what to do."""


class NoIndexError(StoreError):
    pass


class IndexMismatchError(StoreError):
    pass


class CorruptIndexError(StoreError):
    pass


class StoreBusyError(StoreError):
    pass


class DiskFullError(StoreError):
    pass


@dataclass
class Filters:
    doc_ids: set[str] | None = None
    sources: set[str] | None = None
    date_from: str | None = None  # ISO, compared with the article date
    date_to: str | None = None  # ISO; "2021" or "2021-12" cover the whole year or month

    def day_range(self) -> tuple[int | None, int | None]:
        """The date filters as ``rag.dates.date_number`` bounds, for comparing numbers: the
        first day on or after ``date_from``, the last on or before the end of ``date_to``
        (None where that side is open)."""
        low = date_number(self.date_from) if self.date_from else None
        high = date_number(self.date_to, upper=True) if self.date_to else None
        return low, high


@dataclass
class PreparedArticle:
    """An article chunked and embedded, ready to be written."""

    article: Article
    sentences: list[tuple[int, int]]  # article offsets
    # None: not embedded yet. Indexing embeds chunks only; an answer embeds the sentences
    # of the articles it reads, once (rag.read.articles.ArticleReader, Store.save_sentence_vectors).
    sentence_vectors: np.ndarray | None
    chunks: list[Chunk]
    chunk_vectors: np.ndarray


@dataclass
class ArticleInfo:
    """What lists of articles show; the text stays in the store."""

    doc_id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    path: str
    chunks: int


@dataclass
class Candidate:
    key: int  # the store's id for the chunk
    dense: float  # cosine of question and chunk
    lexical: float  # BM25 score, 0 when no term matches
    date_match: bool  # the article date or a date the chunk mentions matches the question's


@dataclass
class Query:
    vector: np.ndarray
    terms: list[str]  # lexical terms (rag.text.lexical_tokens): stopwords and near-ubiquitous terms removed
    n: int  # candidates per list
    filters: Filters | None = None
    dates: list[str] = field(default_factory=list)  # ISO prefixes: "2021", "2024-08"


@dataclass
class WriteReport:
    added: list[str] = field(default_factory=list)  # new articles
    replaced: list[str] = field(default_factory=list)  # changed articles, written again
    unchanged: list[str] = field(default_factory=list)  # same content already there
    removed: list[str] = field(default_factory=list)

    def note_present(self, doc_id: str, dropped_older: bool) -> None:
        """An article of the write that was stored already: unchanged, unless its file's
        older version was dropped (Store.write's ``present``), which makes it replaced."""
        if not dropped_older:
            self.unchanged.append(doc_id)
            return
        if doc_id in self.added:
            self.added.remove(doc_id)
        self.replaced.append(doc_id)


def replaces_by_path(article: Article) -> bool:
    """Whether ``article`` replaces the stored articles from its path: a file edited in
    place keeps its path but, having no id or URL, gets a new content id. Whole files
    only: a JSONL record's path names a line, which moves."""
    return article.identity == "content" and os.path.isabs(article.path) and ":" not in article.path


class Store(Protocol):
    embedder_spec: str  # an index is only ever queried with the embedder that built it
    dim: int

    def hashes(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """Content hashes of those articles that are stored (to skip re-embedding)."""
        ...

    def write(self, add: Sequence[PreparedArticle] = (), remove: Iterable[str] = (), present: Sequence[Article] = ()) -> WriteReport:
        """One transaction: all of it is committed, or nothing. ``present``: articles of
        the batch already stored with this content, so not embedded again; a file's
        earlier version is replaced for them as for those in ``add``."""
        ...

    def candidates(self, query: Query) -> list[Candidate]: ...

    def chunks(self, keys: Iterable[int]) -> dict[int, Chunk]:
        """Chunks by key; keys removed meanwhile are missing from the result."""
        ...

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """An article's chunks, in order."""
        ...

    def sentences(self, doc_id: str) -> tuple[list[tuple[int, int]], np.ndarray | None]:
        """An article's sentence spans and their vectors, None if not embedded yet."""
        ...

    def save_sentence_vectors(self, vectors: Iterable[tuple[str, str, np.ndarray]]) -> int:
        """Keep the sentence vectors of articles, given as (doc_id, content_hash, matrix),
        for an article still stored with that content hash and no vectors; the number
        saved. Best effort: searches do not change, and a busy or read-only store is
        skipped (the vectors are embedded again next time) rather than failing an answer."""
        ...

    def article(self, doc_id: str) -> Article | None: ...

    def articles(self) -> list[ArticleInfo]: ...

    def size(self) -> int:
        """The number of chunks."""
        ...

    def term_counts(self, terms: Iterable[str]) -> dict[str, int]:
        """In how many chunks each term occurs (terms in no chunk are left out)."""
        ...

    def stats(self) -> dict: ...

    def close(self) -> None: ...


# The embedded store: FAISS and SQLite files in the index folder, no server to run.
DEFAULT_STORE = "faiss"


def store_location(store: str, directory: str | Path) -> str:
    """Where ``store`` (a RAG_STORE value) keeps the index: the index folder for
    ``faiss``, a Milvus Lite file in it for plain ``milvus``, else the location given."""
    if store == DEFAULT_STORE:
        return str(directory)
    if store == "milvus":
        return f"milvus:{Path(directory) / 'milvus.db'}"
    if store.startswith("milvus:"):
        return store
    raise StoreError(f"unknown store '{store}': use faiss (the default), milvus, milvus:PATH.db or milvus://HOST:PORT")


def index_exists(directory: str | Path, store: str = DEFAULT_STORE) -> bool:
    location = store_location(store, directory)
    if location.startswith("milvus:"):
        return _milvus_store().exists(location)
    from rag.store.legacy import has_legacy_index
    from rag.store.local import DB_NAME

    return (Path(directory) / DB_NAME).exists() or has_legacy_index(Path(directory))


def open_store(
    directory: str | Path, embedder_spec: str | None, dim: int | None, create: bool = False, store: str = DEFAULT_STORE
) -> Store:
    """The index of ``store`` (``DEFAULT_STORE``, or a Milvus location) for the index
    folder ``directory``. ``create`` makes an empty one if there is none (``embedder_spec``
    and ``dim`` are then recorded); otherwise a missing index raises NoIndexError, and
    one built by another embedder IndexMismatchError."""
    location = store_location(store, directory)
    if location.startswith("milvus:"):
        return _milvus_store().open(location, embedder_spec, dim, create=create)
    from rag.store.local import LocalStore

    return LocalStore.open(Path(directory), embedder_spec, dim, create=create)


def _milvus_store():
    try:
        import pymilvus  # noqa: F401  (the store's engine; an optional dependency)
    except ImportError:
        raise StoreError("the Milvus store needs pymilvus and milvus-lite: pip install 'rag[scale]' (make setup installs them)") from None
    from rag.store.milvus import MilvusStore

    return MilvusStore
