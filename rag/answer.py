"""Answers with citations. The offline default is extractive: it quotes the sentences
of the retrieved passages that best answer the question, each followed by ``[n]``.

Sentence score = cosine(question, sentence) + ``LEXICAL_BONUS`` x the IDF-weighted
share of the question's terms (glossary-expanded for English) found in the sentence.
The cosine carries meaning across languages; the term overlap rewards the sentence
that names what was asked ("nhất trí" for "agree", "lưu học sinh" for "students").

Abstention: when the best sentence scores below ``ABSTAIN_BELOW`` for the question's
language, the articles are taken not to contain the answer. Cosines of same-language
pairs run higher than cross-language ones, hence one threshold per language; they are
calibrated on the unanswerable questions of eval/questions.jsonl (see README).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rag.index import Index, bm25_tokens
from rag.retrieve import Hit, QueryAnalysis

LEXICAL_BONUS = 0.15
ABSTAIN_BELOW = {"en": 0.815, "vi": 0.86, "vi-nodiac": 0.84}
# Passages whose sentences are considered. More than the 5 shown: the sentence that
# answers is sometimes in a passage the chunk ranking put lower.
CANDIDATE_PASSAGES = 10
MAX_ANSWER_SENTENCES = 3
# Further sentences join the answer only if nearly as good as the best one.
SECOND_SENTENCE_MARGIN = 0.03

ABSTAIN_MESSAGE = {
    "en": "The articles do not contain this information.",
    "vi": "Không tìm thấy thông tin này trong các bài viết.",
}
VIETNAMESE_EVIDENCE_NOTE = "The quoted evidence is in Vietnamese."


@dataclass
class Citation:
    n: int
    doc_id: str
    chunk_id: str
    title: str
    date: str | None
    source: str | None
    text: str  # the whole passage
    quote: str  # the supporting sentence(s)
    quote_spans: list[tuple[int, int]]  # offsets of the quote inside ``text``
    start: int  # passage offsets in the cleaned article
    end: int


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    language: str
    citations: list[Citation]
    passages: list[Hit] = field(default_factory=list)  # what was looked at, best first
    evidence: float = 0.0  # best sentence score, compared with the abstention threshold
    note: str | None = None


class Generator(Protocol):
    """Anything that turns a question and retrieved passages into an ``Answer``.
    An LLM backend implements this; ``ExtractiveAnswerer`` is the offline default."""

    def answer(self, question: str, analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray) -> Answer: ...


@dataclass
class _Candidate:
    score: float
    hit: Hit
    span: tuple[int, int]  # article offsets


class ExtractiveAnswerer:
    def __init__(self, index: Index):
        self.index = index
        self._df: Counter[str] | None = None

    def answer(self, question: str, analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray) -> Answer:
        language = analysis.language
        reply_language = "en" if language == "en" else "vi"
        candidates = self._score_sentences(analysis, hits[:CANDIDATE_PASSAGES], query_vector)
        if not candidates or candidates[0].score < ABSTAIN_BELOW.get(language, ABSTAIN_BELOW["vi"]):
            return Answer(
                question, ABSTAIN_MESSAGE[reply_language], True, language, [], hits,
                evidence=candidates[0].score if candidates else 0.0,
            )
        best = candidates[0].score
        chosen = [c for c in candidates if c.score >= best - SECOND_SENTENCE_MARGIN][:MAX_ANSWER_SENTENCES]
        # Read in passage order, then text order, so the answer flows like the source.
        chosen.sort(key=lambda c: (c.hit.rank, c.span[0]))
        citations: list[Citation] = []
        numbers: dict[str, int] = {}
        parts = []
        for c in chosen:
            chunk = c.hit.chunk
            if chunk.chunk_id not in numbers:
                numbers[chunk.chunk_id] = len(numbers) + 1
                citations.append(
                    Citation(numbers[chunk.chunk_id], chunk.doc_id, chunk.chunk_id, chunk.title, chunk.date, chunk.source,
                             chunk.text, "", [], chunk.start, chunk.end)
                )
            citation = citations[numbers[chunk.chunk_id] - 1]
            sentence = self.index.articles[chunk.doc_id].article.text[c.span[0] : c.span[1]]
            citation.quote_spans.append((c.span[0] - chunk.start, c.span[1] - chunk.start))
            citation.quote = " ".join(filter(None, [citation.quote, sentence]))
            parts.append(f"{sentence} [{citation.n}]")
        note = VIETNAMESE_EVIDENCE_NOTE if language == "en" else None
        text = " ".join(parts)
        if note:
            text = f"{note} {text}"
        return Answer(question, text, False, language, citations, hits, evidence=best, note=note)

    def _score_sentences(self, analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray) -> list[_Candidate]:
        weights = self._term_weights(analysis.tokens)
        total = sum(weights.values()) or 1.0
        seen: set[tuple[str, int]] = set()
        candidates = []
        for hit in hits:
            spans, vectors = self.index.sentence_vectors_for(hit.chunk)
            if not spans:
                continue
            cosines = vectors @ query_vector
            text = self.index.articles[hit.chunk.doc_id].article.text
            for span, cosine in zip(spans, cosines):
                if (hit.chunk.doc_id, span[0]) in seen:  # overlap: a sentence in two chunks
                    continue
                seen.add((hit.chunk.doc_id, span[0]))
                terms = set(bm25_tokens(text[span[0] : span[1]]))
                overlap = sum(w for t, w in weights.items() if t in terms) / total
                candidates.append(_Candidate(float(cosine) + LEXICAL_BONUS * overlap, hit, span))
        candidates.sort(key=lambda c: -c.score)
        return candidates

    def _term_weights(self, tokens: list[str]) -> dict[str, float]:
        if self._df is None:
            self._df = Counter(t for c in self.index.chunks for t in set(bm25_tokens(c.title + "\n" + c.text)))
        n = max(len(self.index.chunks), 1)
        return {t: math.log(1 + n / (1 + self._df[t])) for t in set(tokens) if self._df.get(t)}
