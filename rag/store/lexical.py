"""The lexical index: BM25 over chunk tokens, in tantivy.

It is derived data. SQLite (``rag.store.local``) is the source of truth; this index is
brought up to date from SQLite's change log (chunks with an id above the last one it
holds, removals after the last log entry it applied), so a lost or damaged copy is
rebuilt, never a loss. The state it reflects is written in a marker document in the
same tantivy commit as the change, so it can never claim a state it does not hold.

Why tantivy and not SQLite's FTS5 (measured, README "Storage"): FTS5 scores every chunk
that matches any query term, and on news, where a question holds common syllables,
that is most of the corpus: top-100 took 160 ms at 100k chunks and 2.1 s at 1M. Tantivy
prunes (block-max WAND) and answered in 1.6 and 13 ms; its document frequencies cost
microseconds where ``fts5vocab`` cost 13-134 ms.

The tokens come from ``rag.text.lexical_tokens`` (folded syllables and syllable pairs)
and are passed in joined by spaces; tantivy only splits on whitespace.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import tantivy

from rag.dates import date_number, matching_terms, period_terms
from rag.store import Filters

log = logging.getLogger(__name__)

# Heap for a writer: a bulk load flushes a segment each time this fills. 128 MB keeps a
# 1M-chunk build to a few dozen segments and fits beside the vectors on a small machine.
WRITER_HEAP = 128_000_000
_MARKER_ID = 0  # chunk ids start at 1 (SQLite AUTOINCREMENT)
_Q, _OCCUR = tantivy.Query, tantivy.Occur


@dataclass
class LexicalDoc:
    key: int  # the chunk id
    tokens: str  # rag.text.lexical_tokens of title and chunk text, joined by spaces
    doc_id: str
    source: str | None
    date: str | None  # the article date (ISO prefix)
    dates: set[str]  # the article date and every date the chunk mentions


@dataclass
class LexicalState:
    """Which SQLite state the index holds: every chunk up to ``max_id`` and every
    removal up to log entry ``seq``, of the store created at ``store``, tokenised by
    tokenizer version ``tokens``."""

    store: str
    tokens: str
    max_id: int = 0
    seq: int = 0


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", stored=True, indexed=True, fast=True)
    # Frequencies but no positions: the syllable pairs already capture adjacency, and
    # positions doubled the size for no gain (README "Storage").
    builder.add_text_field("tokens", stored=False, tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("doc", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("source", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("date", indexed=True, fast=True)
    builder.add_text_field("dates", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("state", stored=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


class LexicalIndex:
    """A tantivy index in ``path``. Writes must be serialised by the caller (the store
    holds SQLite's write lock around them); any number of threads and processes read."""

    def __init__(self, path: Path, index: tantivy.Index):
        self.path = path
        self._index = index
        self._schema = index.schema
        self._searcher = index.searcher()

    @classmethod
    def open(cls, path: Path) -> LexicalIndex | None:
        """The index at ``path``, or None when there is none or it cannot be read."""
        try:
            if not path.is_dir() or not tantivy.Index.exists(str(path)):
                return None
            return cls(path, tantivy.Index.open(str(path)))
        except (OSError, ValueError) as exc:
            log.warning("lexical index %s is unreadable (%s); it will be rebuilt from the database", path, exc)
            return None

    @classmethod
    def create(cls, path: Path, state: LexicalState) -> LexicalIndex:
        """An empty index at ``path``, replacing whatever is there. It is built in a
        temporary folder and renamed into place, so a crash leaves the old index, the new
        one, or (between the two renames) none, which the next open rebuilds; leftovers
        go with ``clean_leftovers``."""
        tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
        index = tantivy.Index(_schema(), path=str(tmp))
        writer = index.writer(WRITER_HEAP, 1)
        writer.add_document(_state_document(state))
        writer.commit()
        writer.wait_merging_threads()
        old = path.with_name(f"{path.name}.old-{uuid.uuid4().hex[:8]}")
        if path.exists():
            os.rename(path, old)
        os.rename(tmp, path)
        _remove(old)
        return cls(path, tantivy.Index.open(str(path)))

    # ---------------------------------------------------------------- state
    def state(self) -> LexicalState | None:
        found = self._searcher.search(_Q.term_query(self._schema, "id", _MARKER_ID), 1).hits
        if not found:
            return None
        try:
            return LexicalState(**json.loads(self._searcher.doc(found[0][1])["state"][0]))
        except (ValueError, TypeError, KeyError, IndexError):
            return None

    def refresh(self) -> None:
        """See the newest commit (of any process)."""
        self._index.reload()
        self._searcher = self._index.searcher()

    # ---------------------------------------------------------------- write
    def apply(self, added: Iterable[LexicalDoc], removed: list[int], state: LexicalState) -> int:
        """One commit: drop ``removed`` chunks, add ``added`` ones, record ``state``.
        Returns the number of chunks added."""
        writer = self._index.writer(WRITER_HEAP, 1)
        try:
            writer.delete_documents_by_query(_Q.term_query(self._schema, "id", _MARKER_ID))
            if removed:
                writer.delete_documents_by_query(_Q.term_set_query(self._schema, "id", removed))
            count = 0
            for doc in added:
                writer.add_document(_document(doc))
                count += 1
            writer.add_document(_state_document(state))
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            writer.rollback()
            raise
        self.refresh()
        return count

    # ----------------------------------------------------------------- read
    def search(self, terms: list[str], n: int, filters: Filters | None = None, dates: list[str] | None = None) -> dict[int, float]:
        """BM25 top ``n`` among the chunks that pass ``filters`` and match ``dates``
        (ISO prefixes, as in rag.dates.dates_match)."""
        conditions = _filter_queries(self._schema, filters)
        if dates:
            conditions.append(_dates_query(self._schema, dates))
        return self._top(terms, n, conditions)

    def scores(self, terms: list[str], keys: list[int]) -> dict[int, float]:
        """BM25 of these chunks; those no term matches are left out."""
        if not keys:
            return {}
        return self._top(terms, len(keys), [_Q.term_set_query(self._schema, "id", keys)])

    def doc_freq(self, terms: Iterable[str]) -> dict[str, int]:
        """Chunks holding each term (terms in none are left out). Removed chunks count
        until tantivy merges their segment away, as they do in its BM25."""
        searcher = self._searcher
        counts = {t: searcher.doc_freq("tokens", t) for t in set(terms)}
        return {t: c for t, c in counts.items() if c}

    def _top(self, terms: list[str], n: int, conditions: list[tantivy.Query]) -> dict[int, float]:
        if not terms or n <= 0:
            return {}
        query = _Q.boolean_query([(_OCCUR.Should, _Q.term_query(self._schema, "tokens", t)) for t in terms])
        if conditions:
            # Conditions score 0, so the score stays the terms' BM25.
            query = _Q.boolean_query([(_OCCUR.Must, query)] + [(_OCCUR.Must, _Q.const_score_query(c, 0.0)) for c in conditions])
        searcher = self._searcher
        hits = searcher.search(query, n, count=False).hits
        keys = searcher.fast_field_values("id", [address for _, address in hits])
        return {int(k): float(score) for (score, _), k in zip(hits, keys) if k}


def clean_leftovers(directory: Path, name: str) -> None:
    """Temporary and replaced index folders that a killed process left. Call with the
    store's write lock held, so no other process is building one."""
    for entry in os.scandir(directory):
        if entry.name.startswith((f"{name}.tmp-", f"{name}.old-")):
            _remove(Path(entry.path))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _document(doc: LexicalDoc) -> tantivy.Document:
    d = tantivy.Document()
    d.add_unsigned("id", doc.key)
    d.add_text("tokens", doc.tokens)
    d.add_text("doc", doc.doc_id)
    d.add_text("source", doc.source or "")
    if doc.date and (number := date_number(doc.date)):
        d.add_unsigned("date", number)
    for term in sorted(set().union(*map(period_terms, doc.dates))):
        d.add_text("dates", term)
    return d


def _state_document(state: LexicalState) -> tantivy.Document:
    d = tantivy.Document()
    d.add_unsigned("id", _MARKER_ID)
    d.add_text("state", json.dumps(state.__dict__))
    return d


def _filter_queries(schema: tantivy.Schema, filters: Filters | None) -> list[tantivy.Query]:
    """The same conditions as the store's SQL (rag.store.local._allowed_sql)."""
    if not filters:
        return []
    queries = []
    if filters.doc_ids:
        queries.append(_Q.term_set_query(schema, "doc", sorted(filters.doc_ids)))
    if filters.sources:
        queries.append(_Q.term_set_query(schema, "source", sorted(filters.sources)))
    if filters.date_from or filters.date_to:
        queries.append(_Q.range_query(schema, "date", tantivy.FieldType.Unsigned, *filters.day_range()))
    return queries


def _dates_query(schema: tantivy.Schema, dates: list[str]) -> tantivy.Query:
    """Matches any of ``dates`` in both directions (rag.dates.matching_terms)."""
    return _Q.term_set_query(schema, "dates", matching_terms(dates))
