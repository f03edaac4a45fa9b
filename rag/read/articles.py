"""The articles behind a question's passages: their texts, their sentences and the
sentences' vectors, each read from the store once per question."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import numpy as np

from rag.chunk import Chunk
from rag.clean import Article
from rag.embed import Embedder
from rag.index import embed_sentences
from rag.store import Store
from rag.text import split_sentences


class ArticleReader:
    """Indexing embeds chunks only (rag.index): the first answer that reads an article
    embeds its sentences and saves them in the store for the next ones. ``load`` does
    that for all of a question's articles at once, in one embedder call.

    The stored sentence spans are the units chunking works with: a sentence longer than
    a chunk is cut there at a clause boundary. Quotes are always whole sentences
    (``whole_sentence``), so a reader never sees "… tìm kiếm cứu nạn," and has to find
    the rest in the next passage."""

    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder
        self._articles: dict[str, Article | None] = {}
        self._sentences: dict[str, tuple[list[tuple[int, int]], np.ndarray]] = {}
        self._whole: dict[str, list[tuple[int, int]]] = {}

    def article(self, doc_id: str) -> Article | None:
        if doc_id not in self._articles:
            self._articles[doc_id] = self.store.article(doc_id)
        return self._articles[doc_id]

    def text(self, doc_id: str) -> str:
        article = self.article(doc_id)
        return article.text if article else ""

    def load(self, doc_ids: Iterable[str]) -> None:
        """Read the sentences of these articles, embedding (and saving) those that have
        no vectors yet."""
        missing: list[tuple[Article, list[tuple[int, int]]]] = []
        for doc_id in dict.fromkeys(doc_ids):
            if doc_id in self._sentences:
                continue
            # The article before its sentences: if it is replaced in between, the spans are
            # the new version's, and the store refuses vectors saved under the old content
            # hash read here (save_sentence_vectors).
            article = self.article(doc_id)
            spans, vectors = self.store.sentences(doc_id)
            if vectors is not None:
                self._sentences[doc_id] = (spans, vectors)
            elif article is None:  # removed meanwhile
                self._sentences[doc_id] = ([], np.zeros((0, self.embedder.dim), np.float32))
            else:
                missing.append((article, spans))
        if not missing:
            return
        matrices = embed_sentences([(a.text, spans) for a, spans in missing], self.embedder)
        for (article, spans), matrix in zip(missing, matrices):
            self._sentences[article.doc_id] = (spans, matrix)
        self.store.save_sentence_vectors([(a.doc_id, a.content_hash, m) for (a, _), m in zip(missing, matrices)])

    def sentences(self, chunk: Chunk) -> tuple[list[tuple[int, int]], np.ndarray]:
        """The sentence pieces inside ``chunk``, with their vectors."""
        self.load([chunk.doc_id])
        spans, vectors = self._sentences[chunk.doc_id]
        rows = [i for i, span in enumerate(spans) if chunk.start <= span[0] and span[1] <= chunk.end]
        return [spans[i] for i in rows], vectors[rows]

    def whole_sentence(self, doc_id: str, piece: tuple[int, int]) -> tuple[int, int]:
        """The sentence of the article text that holds ``piece`` (article offsets)."""
        if doc_id not in self._whole:
            self._whole[doc_id] = split_sentences(self.text(doc_id))
        sentences = self._whole[doc_id]
        i = bisect.bisect_right(sentences, (piece[0], float("inf"))) - 1
        if i >= 0 and sentences[i][0] <= piece[0] and piece[1] <= sentences[i][1]:
            return sentences[i]
        return piece  # not inside one sentence (cannot happen for spans of the same text)
