"""Milvus: the store for archives beyond one machine, and its embedded form.

``RAG_STORE`` (or ``--store``) names it:

- ``milvus:PATH.db``: Milvus Lite, an embedded Milvus in one file. One process at a time
  (Milvus Lite locks the file; a second process waits, then is told so).
- ``milvus://HOST:PORT[/DATABASE]``: a Milvus standalone or distributed cluster, which
  shards, replicates and serves many processes.

The same pymilvus calls serve both. Three collections (prefix ``rag_``):

- ``chunks``: the chunk text, its dense vector, the BM25 sparse vector that Milvus
  computes from ``lexical`` (our folded syllables and syllable pairs, rag.text, joined by
  spaces, so both stores match the same terms), and the scalar fields that filters and
  date matching run on inside Milvus (doc id, source, date as a number, date terms).
- ``articles``: the article text and metadata, one row per article. Milvus wants a
  vector in every collection; this one holds the article's mean chunk vector.
- ``sentences``: sentence vectors, written by the first answer that reads an article.
- ``terms``: in how many chunks each lexical term occurs (``Store.term_counts``).

Milvus has no transactions across rows, so each article is committed on its own, by its
row in ``articles``: chunks are written first under ids derived from (doc id, content
hash, position), then the article row, then the old version's chunks are deleted. A
reader only returns chunks whose content hash is the one in the article row, so it sees
an article's old or new version, never half of one; a crash leaves at most unreferenced
chunks, which stay invisible and are replaced when the article is written again. Writes
are idempotent (the same article gives the same ids), so a retried batch is never stored
twice. A batch of several articles is not atomic: a crash keeps the articles before it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlparse

import numpy as np

from rag.chunk import Chunk
from rag.clean import Article
from rag.dates import date_number, matching_terms, period_terms
from rag.store import (
    ArticleInfo,
    Candidate,
    Filters,
    IndexMismatchError,
    NoIndexError,
    PreparedArticle,
    Query,
    StoreBusyError,
    StoreError,
    WriteReport,
    replaces_by_path,
)
from rag.text import lexical_tokens

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
PREFIX = "rag_"
CHUNKS, ARTICLES, SENTENCES, TERMS = PREFIX + "chunks", PREFIX + "articles", PREFIX + "sentences", PREFIX + "terms"
# Milvus caps a VARCHAR at 65,535 bytes. Article text is stored as an array of pieces of
# at most this many characters (4 bytes each at worst in UTF-8).
_PIECE_CHARS = 16_000
_MAX_PIECES = 4096  # an array field's largest capacity: 65M characters an article
_VARCHAR = 65_535
_DATE_TERMS = 1024  # a chunk that names more dates keeps the first (4 terms a date)
# Milvus Lite allows one process per file; another waits this long for it.
LOCK_WAIT_S = 120.0
_CONNECT_TIMEOUT_S = 10.0
_SCAN_BATCH = 1000
_UPSERT_BATCH = 1000
_lite_users: Counter[str] = Counter()  # open clients per Milvus Lite file in this process
# Milvus's default "Bounded" consistency lets a search miss a write of the last
# seconds; the CLI and tests read their own writes, so every request is "Strong".
_CONSISTENCY = "Strong"
_META_PROPERTY = "rag.meta"  # a property of the articles collection: format, embedder, dimension
_CHUNK_FIELDS = ["id", "doc_id", "content_hash", "ord", "title", "date", "source", "start", "end", "text", "sentences", "dates"]


class MilvusStore:
    def __init__(self, client, location: str, embedder_spec: str, dim: int, lite: bool):
        self._client = client
        self.location = location
        self.embedder_spec = embedder_spec
        self.dim = dim
        self._lite = lite

    # ------------------------------------------------------------------ open
    @classmethod
    def open(cls, location: str, embedder_spec: str | None, dim: int | None, create: bool = False) -> MilvusStore:
        """The store at ``location`` (``milvus:PATH.db`` or ``milvus://HOST:PORT[/DB]``)."""
        client, lite = _connect(location)
        store = cls(client, location, embedder_spec or "", dim or 0, lite)
        if not client.has_collection(ARTICLES):
            if not create:
                store.close()
                raise NoIndexError(f"no index in {location}; build one with `rag index PATH...` (e.g. `rag index seeds/`)")
            if embedder_spec is None or dim is None:
                raise ValueError("creating a store needs the embedder spec and its dimension")
            store._create()
        meta = store._meta()
        if embedder_spec and embedder_spec != meta["embedder"]:
            store.close()
            raise IndexMismatchError(
                f"the index in {location} was built with embedder '{meta['embedder']}' but '{embedder_spec}' is configured; "
                f"ask for '{meta['embedder']}' (RAG_EMBEDDER, --embedder), or use another store"
            )
        if dim is not None and dim != meta["dim"]:
            store.close()
            raise IndexMismatchError(f"the index in {location} holds {meta['dim']}-d vectors but the embedder makes {dim}-d ones")
        store.embedder_spec, store.dim = meta["embedder"], meta["dim"]
        for name in (CHUNKS, ARTICLES, SENTENCES, TERMS):
            client.load_collection(name)
        store._settle()  # what a writer left in Milvus Lite's memtable (it may have been killed)
        return store

    def _settle(self) -> None:
        """Milvus Lite keeps new rows in a memtable and builds a search index over it for
        every search (pure Python): over the 300 unflushed chunks of XQuAD a question took
        1.1 s. Flushing after a write moves them into segments whose index is built once.
        A Milvus server flushes by itself, and frequent flushes there make small segments."""
        if self._lite:
            with self._errors("write to"):
                for name in (CHUNKS, SENTENCES):
                    self._client.flush(name)

    @staticmethod
    def exists(location: str) -> bool:
        if location.startswith("milvus:") and not location.startswith("milvus://") and not os.path.isdir(location[7:]):
            return False  # no file to open: do not let Milvus Lite create an empty one
        client, lite = _connect(location)
        try:
            return bool(client.has_collection(ARTICLES))
        finally:
            _disconnect(client, location, lite)

    def _meta(self) -> dict:
        properties = self._client.describe_collection(ARTICLES).get("properties") or {}
        try:
            meta = json.loads(properties.get(_META_PROPERTY, "{}"))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(meta.get("format"))
            return meta
        except (ValueError, AttributeError) as exc:
            raise StoreError(f"{self.location} holds a collection {ARTICLES} that this version did not make; use another store") from exc

    def _create(self) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusException

        client, dim = self._client, self.dim
        meta = json.dumps({"format": FORMAT_VERSION, "embedder": self.embedder_spec, "dim": dim})

        chunks = client.create_schema(auto_id=False)
        chunks.add_field("id", DataType.INT64, is_primary=True)
        for name in ("doc_id", "content_hash", "title", "source", "text"):
            chunks.add_field(name, DataType.VARCHAR, max_length=_VARCHAR)
        chunks.add_field("date", DataType.VARCHAR, max_length=64, nullable=True)
        for name in ("ord", "start", "end", "day"):  # day: rag.dates.date_number of the article date, 0 if none
            chunks.add_field(name, DataType.INT64)
        chunks.add_field("sentences", DataType.JSON)
        chunks.add_field("dates", DataType.JSON)
        chunks.add_field("date_terms", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=_DATE_TERMS, max_length=64)
        # The standard tokenizer keeps "viet_nam" and "2024" whole, so the text we give it
        # is split exactly where rag.text split it (Milvus Lite has no whitespace tokenizer).
        chunks.add_field("lexical", DataType.VARCHAR, max_length=_VARCHAR, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        chunks.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        chunks.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        chunks.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["lexical"],
                                     output_field_names=["sparse"]))

        articles = client.create_schema(auto_id=False)
        articles.add_field("doc_id", DataType.VARCHAR, is_primary=True, max_length=_VARCHAR)
        for name in ("identity", "title", "path", "content_hash", "source"):
            articles.add_field(name, DataType.VARCHAR, max_length=_VARCHAR)
        articles.add_field("date", DataType.VARCHAR, max_length=64, nullable=True)
        articles.add_field("url", DataType.VARCHAR, max_length=_VARCHAR, nullable=True)
        articles.add_field("text", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=_MAX_PIECES, max_length=_VARCHAR)
        articles.add_field("sentences", DataType.JSON)
        articles.add_field("chunks", DataType.INT64)
        articles.add_field("added_at", DataType.DOUBLE)
        articles.add_field("centroid", DataType.FLOAT_VECTOR, dim=dim)

        sentences = client.create_schema(auto_id=False)
        sentences.add_field("id", DataType.INT64, is_primary=True)
        sentences.add_field("doc_id", DataType.VARCHAR, max_length=_VARCHAR)
        sentences.add_field("content_hash", DataType.VARCHAR, max_length=_VARCHAR)
        sentences.add_field("ord", DataType.INT64)
        sentences.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)

        terms = client.create_schema(auto_id=False)
        terms.add_field("term", DataType.VARCHAR, is_primary=True, max_length=_VARCHAR)
        terms.add_field("chunks", DataType.INT64)  # in how many chunks the term occurs
        terms.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus requires a vector field in every collection

        # Exact search, as FAISS flat in the local store (measured there: exact at every
        # size this machine holds). Milvus Lite only has FLAT; a cluster may use HNSW,
        # which Milvus can delete from (README "Scale").
        vector_index = "FLAT" if self._lite else "HNSW"
        vector_fields = {CHUNKS: "vector", SENTENCES: "vector", TERMS: "unused", ARTICLES: "centroid"}
        for name, schema in ((CHUNKS, chunks), (SENTENCES, sentences), (TERMS, terms), (ARTICLES, articles)):
            params = client.prepare_index_params()
            params.add_index(vector_fields[name], index_type="FLAT" if name == TERMS else vector_index, metric_type="IP")
            if name == CHUNKS:
                params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
            try:
                # ARTICLES last: its existence says the store is complete.
                client.create_collection(name, schema=schema, index_params=params, consistency_level=_CONSISTENCY,
                                         properties={_META_PROPERTY: meta} if name == ARTICLES else {})
            except MilvusException as exc:
                if "already exist" not in str(exc):
                    raise StoreError(f"cannot create the index in {self.location}: {exc}") from exc

    def close(self) -> None:
        if self._client is not None:
            _disconnect(self._client, self.location, self._lite)
            self._client = None

    # ----------------------------------------------------------------- write
    def hashes(self, doc_ids: Iterable[str]) -> dict[str, str]:
        rows = self._query(ARTICLES, f"doc_id in {_literal(list(doc_ids))}", ["doc_id", "content_hash"])
        return {r["doc_id"]: r["content_hash"] for r in rows}

    def write(self, add: Sequence[PreparedArticle] = (), remove: Iterable[str] = (), present: Sequence[Article] = ()) -> WriteReport:
        report = WriteReport()
        for doc_id in remove:
            if self._delete(doc_id):
                report.removed.append(doc_id)
        batch = {p.article.doc_id for p in add} | {a.doc_id for a in present}
        stored = self.hashes(batch)
        new = [p for p in add if stored.get(p.article.doc_id) != p.article.content_hash]
        present = [*present, *(p.article for p in add if stored.get(p.article.doc_id) == p.article.content_hash)]
        older = {p.article.doc_id: self._older_versions(p.article, batch) for p in new}
        self._insert(new, stored)
        for prepared in new:
            doc_id = prepared.article.doc_id
            for old in older[doc_id]:
                self._delete(old)
            (report.replaced if doc_id in stored or older[doc_id] else report.added).append(doc_id)
        for article in present:
            older_here = self._older_versions(article, batch) if stored.get(article.doc_id) == article.content_hash else []
            for doc_id in older_here:
                self._delete(doc_id)
            report.note_present(article.doc_id, bool(older_here))
        if report.added or report.replaced or report.removed:
            self._settle()
        return report

    def _older_versions(self, article: Article, batch: set[str]) -> list[str]:
        """As rag.store.local.LocalStore._older_versions."""
        if not replaces_by_path(article):
            return []
        expr = f'path == {_literal(article.path)} and identity == "content" and doc_id != {_literal(article.doc_id)}'
        return [r["doc_id"] for r in self._query(ARTICLES, expr, ["doc_id"]) if r["doc_id"] not in batch]

    def _insert(self, prepared: Sequence[PreparedArticle], stored: dict[str, str]) -> None:
        """Write these articles, each replacing its ``stored`` version (content hash) if
        any: all their chunks first, then the article rows (each one commits its article),
        then what the old versions leave. A few large calls, not a few per article:
        Milvus Lite evaluates every filter over all its rows, in Python."""
        chunk_rows, sentence_rows, article_rows = [], [], []
        for p in prepared:
            a = p.article
            if p.chunk_vectors.shape != (len(p.chunks), self.dim):
                raise ValueError(f"{a.doc_id}: {p.chunk_vectors.shape} vectors for {len(p.chunks)} chunks of dimension {self.dim}")
            pieces = [a.text[i : i + _PIECE_CHARS] for i in range(0, len(a.text), _PIECE_CHARS)]
            if len(pieces) > _MAX_PIECES:
                raise StoreError(f"{a.path}: {len(a.text)} characters is more than one article this store holds; split the file")
            chunk_rows += [_chunk_row(a, chunk, vector) for chunk, vector in zip(p.chunks, p.chunk_vectors)]
            if p.sentence_vectors is not None:
                sentence_rows += _sentence_rows(a.doc_id, a.content_hash, p.sentence_vectors)
            centroid = p.chunk_vectors.mean(axis=0) if len(p.chunks) else np.zeros(self.dim, np.float32)
            article_rows.append({
                "doc_id": a.doc_id, "identity": a.identity, "title": a.title, "path": a.path, "content_hash": a.content_hash,
                "source": a.source or "", "date": a.date, "url": a.url, "text": pieces, "sentences": p.sentences,
                "chunks": len(p.chunks), "added_at": time.time(),
                "centroid": (centroid / max(float(np.linalg.norm(centroid)), 1e-12)).tolist(),
            })
        replaced = {p.article.doc_id: stored[p.article.doc_id] for p in prepared if p.article.doc_id in stored}
        # Each replaced article's stored version only, so that two writers of two versions
        # never delete each other's chunks (the loser's stay unreferenced).
        old_versions = " or ".join(f"(doc_id == {_literal(d)} and content_hash == {_literal(h)})" for d, h in replaced.items())
        old = self._query(CHUNKS, old_versions, ["id", "lexical"]) if replaced else []
        with self._errors("write to"):
            for collection, rows in ((CHUNKS, chunk_rows), (SENTENCES, sentence_rows), (ARTICLES, article_rows)):
                for start in range(0, len(rows), _UPSERT_BATCH):
                    self._client.upsert(collection, rows[start : start + _UPSERT_BATCH])  # ARTICLES: the commit points
            self._count_terms([r["lexical"] for r in chunk_rows], +1)
            if old:
                self._count_terms([r["lexical"] for r in old], -1)
                self._client.delete(CHUNKS, ids=[r["id"] for r in old])
                self._client.delete(SENTENCES, filter=old_versions)

    def _count_terms(self, lexical: list[str], sign: int) -> None:
        """Add (``sign`` +1) or take away (-1) chunks, given by their lexical text, from
        the document frequencies. A read-modify-write: two writers at once on a server
        can lose an update, and a crash between an article's commit and this call skips
        it, so the counts are approximate. They only weigh query terms (selective terms,
        coverage, the answerer's IDF), never decide what is stored or found."""
        delta = Counter(t for text in lexical for t in set(text.split()))
        if not delta:
            return
        terms = sorted(delta)
        current = {r["term"]: r["chunks"] for r in self._get(TERMS, terms, ["term", "chunks"])}
        rows = [{"term": t, "chunks": max(0, current.get(t, 0) + sign * delta[t]), "unused": [0.0, 0.0]} for t in terms]
        for start in range(0, len(rows), _UPSERT_BATCH):
            self._client.upsert(TERMS, rows[start : start + _UPSERT_BATCH])


    def _delete(self, doc_id: str) -> bool:
        if not self.hashes([doc_id]):
            return False
        with self._errors("write to"):
            chunks = self._query(CHUNKS, f"doc_id == {_literal(doc_id)}", ["lexical"])
            self._client.delete(ARTICLES, ids=[doc_id])  # the commit point
            self._count_terms([r["lexical"] for r in chunks], -1)
            self._client.delete(CHUNKS, filter=f"doc_id == {_literal(doc_id)}")
            self._client.delete(SENTENCES, filter=f"doc_id == {_literal(doc_id)}")
        return True

    def save_sentence_vectors(self, vectors: Iterable[tuple[str, str, np.ndarray]]) -> int:
        saved = 0
        try:
            for doc_id, content_hash, matrix in vectors:
                if matrix.ndim != 2 or matrix.shape[1] != self.dim:
                    raise ValueError(f"{doc_id}: sentence vectors of shape {matrix.shape}, not (sentences, {self.dim})")
                row = self._query(ARTICLES, f"doc_id == {_literal(doc_id)}", ["content_hash", "sentences"])
                if row and row[0]["content_hash"] == content_hash and len(row[0]["sentences"]) == len(matrix):
                    with self._errors("write to"):
                        self._client.upsert(SENTENCES, _sentence_rows(doc_id, content_hash, matrix))
                    saved += 1
            if saved:
                self._settle()
        except StoreError as exc:
            log.warning("sentence vectors not saved (%s); they are embedded again when next needed", exc)
        return saved

    # ------------------------------------------------------------------ read
    def candidates(self, query: Query) -> list[Candidate]:
        lexical_text = " ".join(query.terms)
        allowed = _filter_expr(query.filters)
        dense: dict[int, float] = {}
        lexical: dict[int, float] = {}
        for dates in [None] + ([query.dates] if query.dates else []):
            expr = " and ".join(e for e in (allowed, dates and f"ARRAY_CONTAINS_ANY(date_terms, {_literal(matching_terms(dates))})") if e)
            dense.update(self._search("vector", query.vector.tolist(), query.n, expr, "IP"))
            if lexical_text:
                lexical.update(self._search("sparse", lexical_text, query.n, expr, "BM25"))
        keys = sorted(dense.keys() | lexical.keys())
        if not keys:
            return []
        # One fetch by primary key gives what the two searches left out: the dense score
        # of lexical-only candidates and, for all of them, whether a date matches.
        wanted = set(matching_terms(query.dates)) if query.dates else set()
        rows = self._get(CHUNKS, keys, ["id", "vector", "date_terms"] if wanted else ["id", "vector"])
        for r in rows:
            dense.setdefault(r["id"], float(np.dot(r["vector"], query.vector)))
        matched = {r["id"] for r in rows if wanted & set(r["date_terms"])} if wanted else set()
        missing = [k for k in keys if k not in lexical]
        if lexical_text and missing:
            lexical.update(self._search("sparse", lexical_text, len(missing), f"id in {missing}", "BM25"))
        return [Candidate(k, dense[k], lexical.get(k, 0.0), k in matched) for k in keys if k in dense]

    def _search(self, field: str, data, limit: int, expr: str, metric: str) -> dict[int, float]:
        if limit <= 0:
            return {}
        with self._errors("search"):
            hits = self._client.search(
                CHUNKS, data=[data], anns_field=field, limit=min(limit, 16_384), filter=expr,
                search_params={"metric_type": metric}, output_fields=["id"], consistency_level=_CONSISTENCY,
            )[0]
        # Milvus Lite reports BM25 as a negative distance, a server as a positive score.
        return {int(h["id"]): abs(float(h["distance"])) if metric == "BM25" else float(h["distance"]) for h in hits}

    def chunks(self, keys: Iterable[int]) -> dict[int, Chunk]:
        rows = self._get(CHUNKS, list(keys), _CHUNK_FIELDS)
        current = self.hashes({r["doc_id"] for r in rows})
        return {r["id"]: _chunk(r) for r in rows if current.get(r["doc_id"]) == r["content_hash"]}

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        current = self.hashes([doc_id]).get(doc_id)
        rows = self._query(CHUNKS, f"doc_id == {_literal(doc_id)} and content_hash == {_literal(current or '')}", _CHUNK_FIELDS)
        return [_chunk(r) for r in sorted(rows, key=lambda r: r["ord"])]

    def sentences(self, doc_id: str) -> tuple[list[tuple[int, int]], np.ndarray | None]:
        row = self._query(ARTICLES, f"doc_id == {_literal(doc_id)}", ["content_hash", "sentences"])
        if not row:
            return [], np.zeros((0, self.dim), np.float32)
        spans = [tuple(s) for s in row[0]["sentences"]]
        expr = f"doc_id == {_literal(doc_id)} and content_hash == {_literal(row[0]['content_hash'])}"
        vectors = sorted(self._query(SENTENCES, expr, ["ord", "vector"]), key=lambda r: r["ord"])
        if len(vectors) != len(spans) or not spans:
            return spans, None
        return spans, np.asarray([r["vector"] for r in vectors], dtype=np.float32)

    def article(self, doc_id: str) -> Article | None:
        fields = ["doc_id", "title", "text", "date", "source", "url", "path", "content_hash", "identity"]
        rows = self._query(ARTICLES, f"doc_id == {_literal(doc_id)}", fields)
        if not rows:
            return None
        r = rows[0]
        return Article(r["doc_id"], r["title"], "".join(r["text"]), r["date"], r["source"] or None, r["url"], r["path"],
                       r["content_hash"], r["identity"])

    def articles(self) -> list[ArticleInfo]:
        fields = ["doc_id", "title", "date", "source", "url", "path", "chunks"]
        infos = [ArticleInfo(r["doc_id"], r["title"], r["date"], r["source"] or None, r["url"], r["path"], r["chunks"])
                 for r in self._scan(ARTICLES, fields)]
        # Newest first, as LocalStore lists them (SQLite sorts NULL dates last in DESC).
        infos.sort(key=lambda i: i.title)
        infos.sort(key=lambda i: i.date or "", reverse=True)
        return infos

    def size(self) -> int:
        return self._count(CHUNKS)

    def term_counts(self, terms: Iterable[str]) -> dict[str, int]:
        # From the counts kept at write time (_count_terms): asking Milvus to count the
        # chunks that match each term took 11 ms a term at 74 chunks and 300 ms at 2,000
        # in Milvus Lite, and a question has 10-20 terms.
        rows = self._get(TERMS, sorted(set(terms)), ["term", "chunks"])
        return {r["term"]: r["chunks"] for r in rows if r["chunks"] > 0}

    def stats(self) -> dict:
        rows = list(self._scan(ARTICLES, ["date", "source", "added_at"]))
        dates = [r["date"] for r in rows if r["date"]]
        return {
            "articles": len(rows), "chunks": self.size(), "embedder": self.embedder_spec,
            "sources": sorted({r["source"] for r in rows if r["source"]}), "first_date": min(dates, default=None),
            "last_date": max(dates, default=None), "generation": None,
            "updated_at": max((r["added_at"] for r in rows), default=time.time()), "store": self.location,
        }

    # --------------------------------------------------------------- helpers
    def _query(self, collection: str, expr: str, fields: list[str]) -> list[dict]:
        with self._errors("read"):
            return self._client.query(collection, filter=expr, output_fields=fields, consistency_level=_CONSISTENCY)

    def _get(self, collection: str, ids: list, fields: list[str]) -> list[dict]:
        if not ids:
            return []
        with self._errors("read"):
            return self._client.get(collection, ids=ids, output_fields=fields)

    def _count(self, collection: str) -> int:
        with self._errors("read"):
            rows = self._client.query(collection, filter="", output_fields=["count(*)"], consistency_level=_CONSISTENCY)
        return int(rows[0]["count(*)"]) if rows else 0

    def _scan(self, collection: str, fields: list[str]) -> Iterator[dict]:
        with self._errors("read"):
            iterator = self._client.query_iterator(collection, batch_size=_SCAN_BATCH, filter="", output_fields=fields)
            try:
                while batch := iterator.next():
                    yield from batch
            finally:
                iterator.close()

    @contextlib.contextmanager
    def _errors(self, verb: str) -> Iterator[None]:
        """pymilvus's exceptions as StoreErrors that say what to do."""
        from pymilvus.exceptions import MilvusException

        try:
            yield
        except MilvusException as exc:
            raise StoreError(f"cannot {verb} the index in {self.location}: {exc.message}; check that Milvus is running") from exc


def _connect(location: str):
    """A MilvusClient for ``location``, and whether it is Milvus Lite."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    # pymilvus configures its loggers when imported, and logs every failed call at ERROR
    # before raising it; we raise those again as StoreErrors that say what to do.
    for name in ("pymilvus", "pymilvus.milvus_client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if location.startswith("milvus://"):
        url = urlparse(location)
        if not url.hostname:
            raise StoreError(f"{location}: give the server as milvus://HOST:PORT[/DATABASE]")
        uri = f"http://{url.hostname}:{url.port or 19530}"
        try:
            return MilvusClient(uri, db_name=url.path.strip("/"), timeout=_CONNECT_TIMEOUT_S), False
        except MilvusException as exc:
            raise StoreError(f"cannot reach Milvus at {uri} ({exc.message}); start it, or check RAG_STORE / --store") from exc
    # Milvus Lite serves pymilvus from a gRPC server in this process. It has no
    # AllocTimestamp call, which pymilvus's query iterator tries before falling back to
    # a client-side timestamp; grpc logs that miss as an error with a traceback.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    path = location.removeprefix("milvus:")
    if not path.endswith(".db"):
        raise StoreError(f"{location}: a Milvus Lite store is a folder ending in .db, e.g. milvus:index/milvus.db")
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    # Milvus Lite logs a failed start (a locked file included) with a traceback; we
    # report it ourselves, in one line.
    logging.getLogger("milvus_lite.server_manager").setLevel(logging.CRITICAL)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        # Held by another process: wait for it rather than fail (the lock can still be
        # taken between this check and the open, hence the retry below).
        # (This process's own open Milvus Lite holds the lock too: it is shared, not waited for.)
        while not _lite_users[os.path.abspath(path)] and _lite_locked(path) and time.monotonic() < deadline:
            time.sleep(0.2)
        try:
            client = MilvusClient(path)
        except MilvusException as exc:
            if not _lite_locked(path):
                raise StoreError(f"cannot open the Milvus Lite store {path} ({exc.message}); check the path, or use another store") from exc
            if time.monotonic() > deadline:
                raise StoreBusyError(
                    f"another process has had {path} open for {LOCK_WAIT_S:.0f} s (Milvus Lite serves one process at a time); "
                    "close it, or use a Milvus server (milvus://HOST:PORT) for concurrent use"
                ) from exc
            continue
        _lite_users[os.path.abspath(path)] += 1
        return client, True


def _disconnect(client, location: str, lite: bool) -> None:
    """Close ``client``; the last client of a Milvus Lite file in this process also stops
    its server, so that the file's lock goes to the next process (Milvus Lite otherwise
    holds it until this process exits)."""
    client.close()
    if not lite:
        return
    path = os.path.abspath(location.removeprefix("milvus:"))
    _lite_users[path] -= 1
    if _lite_users[path] <= 0:
        del _lite_users[path]
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)


def _lite_locked(path: str) -> bool:
    """Whether another process holds Milvus Lite's lock on ``path`` (an advisory flock
    on its LOCK file, held while the store is open)."""
    import fcntl

    try:
        fd = os.open(os.path.join(path, "LOCK"), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _filter_expr(filters: Filters | None) -> str:
    """The same conditions as rag.store.local._allowed_sql, as a Milvus expression."""
    if not filters:
        return ""
    parts = []
    if filters.doc_ids:
        parts.append(f"doc_id in {_literal(sorted(filters.doc_ids))}")
    if filters.sources:
        parts.append(f"source in {_literal(sorted(filters.sources))}")
    low, high = filters.day_range()
    if low is not None:
        parts.append(f"day >= {low}")
    if high is not None:
        parts.append(f"day >= 1 and day <= {high}")
    return " and ".join(parts)


def _literal(value) -> str:
    """A string or list of strings as a Milvus expression literal (JSON's quoting is
    Milvus's; Milvus Lite has no expression parameters)."""
    return json.dumps(value, ensure_ascii=False)


def _key(doc_id: str, content_hash: str, n: int, kind: str = "c") -> int:
    """A row id from what the row is, so that writing the same article twice (a retry,
    two writers) overwrites instead of duplicating. 63 bits: Milvus ids are signed."""
    digest = hashlib.blake2b(f"{kind}\0{doc_id}\0{content_hash}\0{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _chunk_row(a: Article, chunk: Chunk, vector: np.ndarray) -> dict:
    ord_ = int(chunk.chunk_id.rsplit("#", 1)[1])
    terms = sorted(set().union(*(period_terms(d) for d in {a.date, *chunk.dates} if d)))
    return {
        "id": _key(a.doc_id, a.content_hash, ord_), "doc_id": a.doc_id, "content_hash": a.content_hash, "ord": ord_,
        "title": a.title, "source": a.source or "", "text": chunk.text, "date": a.date,
        "day": date_number(a.date) if a.date else 0, "start": chunk.start, "end": chunk.end,
        "sentences": chunk.sentences, "dates": chunk.dates, "date_terms": terms[:_DATE_TERMS],
        "lexical": " ".join(lexical_tokens(f"{chunk.title}\n{chunk.text}")), "vector": vector.tolist(),
    }


def _sentence_rows(doc_id: str, content_hash: str, vectors: np.ndarray) -> list[dict]:
    return [{"id": _key(doc_id, content_hash, n, "s"), "doc_id": doc_id, "content_hash": content_hash, "ord": n, "vector": v.tolist()}
            for n, v in enumerate(vectors)]


def _chunk(row: dict) -> Chunk:
    return Chunk(
        row["doc_id"], f"{row['doc_id']}#{row['ord']}", row["title"], row["date"], row["source"] or None, row["start"], row["end"],
        row["text"], [tuple(s) for s in row["sentences"]], list(row["dates"]),
    )
