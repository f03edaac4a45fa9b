"""Indexing: cleaned articles -> sentences, chunks and their vectors, ready for a store.

This is the expensive step (the embedder), so it runs before the store's write lock is
taken: several processes can embed at once, and each holds the lock only to insert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.chunk import chunk_article, sentence_spans
from rag.clean import Article
from rag.embed import Embedder
from rag.store import PreparedArticle

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def prepare(articles: Sequence[Article], embedder: Embedder, progress: Progress | None = None) -> list[PreparedArticle]:
    """Split and embed ``articles`` (each with text: rag.pipeline refuses empty ones)."""
    count = embedder.token_count
    split = []
    for article in articles:
        spans = sentence_spans(article, count)
        split.append((article, spans, chunk_article(article, count, spans=spans)))
    total = sum(len(s) + len(c) for _, s, c in split)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embedding", done, total)

    prepared = []
    for article, spans, chunks in split:
        sentence_vectors = embedder.embed_passages([article.text[s:e] for s, e in spans], progress=tick)
        chunk_vectors = embedder.embed_passages([c.embedding_text() for c in chunks], progress=tick)
        prepared.append(PreparedArticle(article, spans, sentence_vectors, chunks, chunk_vectors))
    return prepared
