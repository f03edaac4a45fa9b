"""The offline default: the answer is the sentences of the articles that best answer
the question, quoted whole, each followed by its ``[n]``.

``ExtractiveReader.select`` is also the first half of the LLM readers: they translate
(rag.read.translate) or are prompted with (rag.read.generate) what it picks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.embed import Embedder
from rag.read import gate
from rag.read.answer import Answer, abstention, render
from rag.read.articles import ArticleReader
from rag.read.cite import Citations
from rag.read.select import Candidate, answer_type, candidates
from rag.retrieve import Hit, QueryAnalysis
from rag.store import Store

MAX_ANSWER_SENTENCES = 3
# Further sentences join the answer only if nearly as good as the best one; a "list"
# question ("which fields…") takes them more readily: its answer often spans sentences.
SECOND_SENTENCE_MARGIN = 0.03
LIST_MARGIN = 0.05


@dataclass
class Selection:
    articles: ArticleReader
    verdict: gate.Verdict
    chosen: list[Candidate]  # the sentences to quote, in reading order; empty when abstaining


def evidence_language(question_language: str) -> str | None:
    """The quotes are Vietnamese: worth saying only to a reader who asked in English."""
    return "vi" if question_language == "en" else None


class ExtractiveReader:
    name = "extractive"

    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder  # for sentence vectors not embedded yet (ArticleReader)

    def select(self, question: str, analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray) -> Selection:
        """The gate's verdict and, unless it abstains, the sentences to quote."""
        articles = ArticleReader(self.store, self.embedder)
        kind = answer_type(question)
        verdict = gate.check(analysis, hits, candidates(analysis, hits, query_vector, articles, kind), self.store, kind)
        if verdict.abstain:
            return Selection(articles, verdict, [])
        best = verdict.usable[0].score
        margin = LIST_MARGIN if kind == "list" else SECOND_SENTENCE_MARGIN
        chosen = [c for c in verdict.usable if c.score >= best - margin][:MAX_ANSWER_SENTENCES]
        # Read in passage order, then text order, so the answer flows like the source.
        chosen.sort(key=lambda c: (c.hit.rank, c.span[0]))
        return Selection(articles, verdict, chosen)

    def answer(
        self, question: str, analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        selection = self.select(question, analysis, hits, query_vector)
        if selection.verdict.abstain:
            return abstention(question, analysis.language, hits, selection.verdict.signals, selection.verdict.reason)
        citations = Citations(selection.articles)
        sentences = [citations.quote(c) for c in selection.chosen]
        text = render(sentences)
        if on_token:
            on_token(text)
        return Answer(question, text, False, analysis.language, citations.list, hits, evidence=selection.verdict.signals,
                      sentences=sentences, evidence_language=evidence_language(analysis.language))

