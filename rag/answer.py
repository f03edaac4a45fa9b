"""Answers with citations. The offline default is extractive: it quotes the sentences
of the retrieved passages that best answer the question, each followed by ``[n]``.

Sentence score = cosine(question, sentence) + ``LEXICAL_BONUS`` x the IDF²-weighted
share of the question's terms (glossary-expanded for English) found in the sentence,
with IDF computed among the candidate sentences.
The cosine carries meaning across languages; the term overlap rewards the sentence
that names what was asked ("nhất trí" for "agree", "lưu học sinh" for "students").

Abstention uses two signals, with thresholds per question language because cosines
of same-language pairs run higher than cross-language ones:
- the best cosine between the question and any candidate sentence, and
- *term coverage*: the IDF-weighted share of the question's terms found in the top
  three passages. "Việt Nam và Pháp ... nhà máy điện hạt nhân" finds "Việt Nam" but
  not "Pháp" or "hạt nhân", which the cosine alone cannot tell apart from a paraphrase.
The thresholds were calibrated on eval/questions.jsonl (117 questions, 13 unanswerable;
README "Answers"). Coverage is not used for English: glossary translations are too
loose for it ("France" -> "pháp" also matches "pháp lý").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rag.chunk import Chunk
from rag.clean import Article
from rag.embed import Embedder
from rag.index import embed_sentences
from rag.retrieve import Hit, QueryAnalysis
from rag.store import Store
from rag.text import lexical_tokens

LEXICAL_BONUS = 0.15
# (minimum best-sentence cosine, minimum term coverage) below which the system abstains.
ABSTAIN_BELOW = {"en": (0.80, 0.0), "vi": (0.84, 0.53), "vi-nodiac": (0.795, 0.5)}
COVERAGE_PASSAGES = 3
# A sentence from a passage that matches the question's date gets this much extra, so
# "in 2024" quotes the 2024 talks even where a 2021 sentence reads closer.
DATE_MATCH_BONUS = 0.05
# Passages whose sentences are considered. More than the 5 shown: the sentence that
# answers is sometimes in a passage the chunk ranking put lower.
CANDIDATE_PASSAGES = 15
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
class AnswerSentence:
    text: str
    citations: list[int]  # the [n] that support it
    supported: bool
    support: float = 0.0  # best alignment score with a passage (generated answers)


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    language: str
    citations: list[Citation]
    passages: list[Hit] = field(default_factory=list)  # what was looked at, best first
    evidence: dict[str, float] = field(default_factory=dict)  # the abstention signals
    note: str | None = None
    sentences: list[AnswerSentence] = field(default_factory=list)
    generated_by: str = "extractive"


class Generator(Protocol):
    """Anything that turns a question and retrieved passages into an ``Answer``.
    An LLM backend implements this; ``ExtractiveAnswerer`` is the offline default."""

    def answer(
        self,
        question: str,
        analysis: QueryAnalysis,
        hits: list[Hit],
        query_vector: np.ndarray,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer: ...


@dataclass
class _Candidate:
    score: float
    cosine: float
    hit: Hit
    span: tuple[int, int]  # article offsets


class ArticleReader:
    """The texts and sentence vectors of the articles behind a question's passages,
    each read from the store once per question.

    Indexing embeds chunks only (rag.index): the first answer that reads an article
    embeds its sentences and saves them in the store for the next ones. ``load`` does
    that for all of a question's articles at once, in one embedder call."""

    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder
        self._articles: dict[str, Article | None] = {}
        self._sentences: dict[str, tuple[list[tuple[int, int]], np.ndarray]] = {}

    def _article(self, doc_id: str) -> Article | None:
        if doc_id not in self._articles:
            self._articles[doc_id] = self.store.article(doc_id)
        return self._articles[doc_id]

    def text(self, doc_id: str) -> str:
        article = self._article(doc_id)
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
            article = self._article(doc_id)
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
        """The sentences inside ``chunk``, with their vectors."""
        self.load([chunk.doc_id])
        spans, vectors = self._sentences[chunk.doc_id]
        rows = [i for i, span in enumerate(spans) if chunk.start <= span[0] and span[1] <= chunk.end]
        return [spans[i] for i in rows], vectors[rows]


class ExtractiveAnswerer:
    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder  # for sentence vectors not embedded yet (ArticleReader)

    def answer(
        self,
        question: str,
        analysis: QueryAnalysis,
        hits: list[Hit],
        query_vector: np.ndarray,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        language = analysis.language
        articles = ArticleReader(self.store, self.embedder)
        candidates = self.candidates(analysis, hits, query_vector, articles)
        evidence = self.evidence(analysis, hits, candidates)
        if self.too_weak(language, evidence):
            return abstention(question, language, hits, evidence)
        best = candidates[0].score
        chosen = [c for c in candidates if c.score >= best - SECOND_SENTENCE_MARGIN][:MAX_ANSWER_SENTENCES]
        # Read in passage order, then text order, so the answer flows like the source.
        chosen.sort(key=lambda c: (c.hit.rank, c.span[0]))
        citations: list[Citation] = []
        numbers: dict[str, int] = {}
        parts = []
        sentences = []
        for c in chosen:
            chunk = c.hit.chunk
            if chunk.chunk_id not in numbers:
                numbers[chunk.chunk_id] = len(numbers) + 1
                citations.append(
                    Citation(numbers[chunk.chunk_id], chunk.doc_id, chunk.chunk_id, chunk.title, chunk.date, chunk.source,
                             chunk.text, "", [], chunk.start, chunk.end)
                )
            citation = citations[numbers[chunk.chunk_id] - 1]
            sentence = articles.text(chunk.doc_id)[c.span[0] : c.span[1]]
            citation.quote_spans.append((c.span[0] - chunk.start, c.span[1] - chunk.start))
            citation.quote = " ".join(filter(None, [citation.quote, sentence]))
            parts.append(f"{sentence} [{citation.n}]")
            sentences.append(AnswerSentence(sentence, [citation.n], True, c.cosine))
        note = VIETNAMESE_EVIDENCE_NOTE if language == "en" else None
        text = " ".join(parts)
        if note:
            text = f"{note} {text}"
        if on_token:
            on_token(text)
        return Answer(question, text, False, language, citations, hits, evidence=evidence, note=note, sentences=sentences)

    def evidence(self, analysis: QueryAnalysis, hits: list[Hit], candidates: list[_Candidate]) -> dict[str, float]:
        """The two abstention signals (module docstring)."""
        return {
            "cosine": max((c.cosine for c in candidates), default=0.0),
            "coverage": self._coverage(analysis, hits[:COVERAGE_PASSAGES]),
        }

    @staticmethod
    def too_weak(language: str, evidence: dict[str, float]) -> bool:
        min_cosine, min_coverage = ABSTAIN_BELOW.get(language, ABSTAIN_BELOW["vi"])
        return evidence["cosine"] < min_cosine or evidence["coverage"] < min_coverage

    def candidates(self, analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray, articles: ArticleReader) -> list[_Candidate]:
        """Sentences of the top ``CANDIDATE_PASSAGES`` passages, best first."""
        hits = hits[:CANDIDATE_PASSAGES]
        articles.load(h.chunk.doc_id for h in hits)  # sentences not embedded yet: one call for all
        rows: list[tuple[Hit, tuple[int, int], float, set[str]]] = []
        seen: set[tuple[str, int]] = set()
        for hit in hits:
            spans, vectors = articles.sentences(hit.chunk)
            text = articles.text(hit.chunk.doc_id)
            for span, cosine in zip(spans, vectors @ query_vector if spans else []):
                if (hit.chunk.doc_id, span[0]) not in seen:  # overlapping chunks share a sentence
                    seen.add((hit.chunk.doc_id, span[0]))
                    rows.append((hit, span, float(cosine), set(lexical_tokens(text[span[0] : span[1]]))))
        # The question's date picks passages (DATE_MATCH_BONUS); inside them it is context,
        # not what the answer is about, so "2021" does not count as a matching term.
        years = {d[:4] for d in analysis.dates}
        terms_asked = [t for t in analysis.tokens if not any(y in t for y in years)]
        weights = _local_term_weights(terms_asked, [terms for *_, terms in rows])
        total = sum(weights.values()) or 1.0
        candidates = [
            _Candidate(
                cosine + LEXICAL_BONUS * sum(w for t, w in weights.items() if t in terms) / total + DATE_MATCH_BONUS * hit.date_match,
                cosine, hit, span,
            )
            for hit, span, cosine, terms in rows
        ]
        candidates.sort(key=lambda c: -c.score)
        return candidates

    def _coverage(self, analysis: QueryAnalysis, hits: list[Hit]) -> float:
        """IDF-weighted share of the question's terms found in ``hits``; the document
        frequencies are those the analysis read from the lexical index."""
        n = max(self.store.size(), 1)
        counts = analysis.term_counts
        # A term the corpus lacks (count 0) weighs most.
        weights = {t: math.log(1 + n / (1 + counts.get(t, 0))) for t in set(analysis.tokens)}
        found = {t for h in hits for t in lexical_tokens(h.chunk.title + "\n" + h.chunk.text)}
        total = sum(weights.values())
        return sum(w for t, w in weights.items() if t in found) / total if total else 1.0


def abstention(question: str, language: str, hits: list[Hit], evidence: dict[str, float]) -> Answer:
    """"Not in the articles", in the question's language, with the passages looked at."""
    message = ABSTAIN_MESSAGE["en" if language == "en" else "vi"]
    return Answer(question, message, True, language, [], hits, evidence=evidence)


def _local_term_weights(query_terms: list[str], sentences: list[set[str]]) -> dict[str, float]:
    """IDF of the question's terms *among the candidate sentences*. The retrieved
    passages already share the question's topic words ("Việt Nam", "Nga", "2021"); the
    term that singles out the answering sentence is the rare one ("nhất trí")."""
    n = len(sentences)
    weights = {}
    for term in set(query_terms):
        df = sum(term in s for s in sentences)
        if df:
            # Squared, as in a TF-IDF cosine where question and sentence both carry IDF.
            weights[term] = math.log(1 + n / df) ** 2
    return weights
