"""Hybrid retrieval: dense (FAISS) plus BM25 on folded tokens, date-aware, filtered.

Fusion. BM25 on an English question over Vietnamese text is noise: equal-weight RRF
dropped XQuAD en->vi R@1 from 0.75 to 0.44 (shared/NOTES.md). So the lexical weight is
set per question by its *lexical evidence*: the share of the question's content tokens
that occur in the corpus vocabulary (after folding diacritics), times a maximum that
depends on the question's language. A Vietnamese question, with or without marks, is
almost fully covered and gets the full weight; an English
question is covered by names and numbers ("ARMY-2024", "Shoigu") and by the English
words that ``rag.glossary`` translates ("agree" -> "nhất trí"), which BM25 then matches.
Scores are z-normalised per question before mixing, so the weight means the same for
any corpus size.

Dates. A year, month or day in the question ("in 2021", "năm 2021", "tháng 8/2024")
adds ``DATE_BOOST`` (in z units) to chunks whose article date or mentioned dates match.
A boost, not a filter: undated articles can still answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rag.chunk import Chunk
from rag.dates import dates_match, query_dates
from rag.glossary import GLOSSARY, expand
from rag.index import Index, bm25_tokens
from rag.text import EN_STOPWORDS, content_terms, detect_language, words

# The lexical weight at full coverage, per question language, from a sweep on XQuAD
# (README "Retrieval"). The encoder barely reads Vietnamese typed without diacritics
# (dense R@1 0.24), so BM25 on folded tokens has to carry those questions.
LEXICAL_WEIGHT = {"en": 0.35, "vi": 0.25, "vi-nodiac": 0.7}
DATE_BOOST = 1.0
# Two chunks sharing this share of their tokens are the same passage twice (a
# syndicated article indexed from two files); only the better one is shown.
DUPLICATE_JACCARD = 0.8
MODES = ("hybrid", "dense", "bm25", "rrf")
RRF_K = 60


@dataclass
class Filters:
    doc_ids: set[str] | None = None
    sources: set[str] | None = None
    date_from: str | None = None  # ISO, compared with the article date
    date_to: str | None = None

    def allows(self, chunk: Chunk) -> bool:
        if self.doc_ids and chunk.doc_id not in self.doc_ids:
            return False
        if self.sources and (chunk.source or "") not in self.sources:
            return False
        if self.date_from or self.date_to:
            if not chunk.date:
                return False
            if self.date_from and chunk.date < self.date_from:
                return False
            if self.date_to and chunk.date[: len(self.date_to)] > self.date_to:
                return False
        return True


@dataclass
class Hit:
    chunk: Chunk
    score: float
    dense: float  # cosine similarity of question and chunk
    lexical: float  # raw BM25 score
    date_match: bool
    rank: int = 0


@dataclass
class QueryAnalysis:
    language: str
    tokens: list[str]
    coverage: float  # share of content tokens found in the corpus vocabulary
    lexical_weight: float
    dates: list[str] = field(default_factory=list)


class Retriever:
    def __init__(self, index: Index):
        self.index = index

    def analyse(self, query: str, lexical_weight: float | None = None) -> QueryAnalysis:
        language = detect_language(query)
        tokens = bm25_tokens(query)
        vocabulary = self.index.vocabulary
        if language == "en":
            content = [t for t in words(query) if t not in EN_STOPWORDS]
            translated = {t: [w for w in expand([t]) if w in vocabulary] for t in content}
            covered = sum(t in vocabulary or bool(translated[t]) for t in content)
            # A translated word is searched in Vietnamese only: the English spelling
            # matches nothing or noise ("vietnam" in the credit "Vietnam+").
            tokens = [t for t in content if t not in GLOSSARY] + [w for t in content for w in translated[t]]
        else:
            content = words(query)
            covered = sum(t in vocabulary for t in content)
        coverage = covered / len(content) if content else 0.0
        tokens = content_terms(tokens)
        weight = LEXICAL_WEIGHT[language] * coverage if lexical_weight is None else lexical_weight
        return QueryAnalysis(language, tokens, coverage, weight, query_dates(query))

    def search(
        self,
        query: str,
        k: int = 5,
        filters: Filters | None = None,
        mode: str = "hybrid",
        lexical_weight: float | None = None,
        use_dates: bool = True,
        query_vector: np.ndarray | None = None,
        analysis: QueryAnalysis | None = None,
    ) -> list[Hit]:
        """The top ``k`` chunks. ``query_vector`` and ``analysis`` may be passed in by a
        caller that already computed them for the same query (``RAG.ask``)."""
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode '{mode}'; use one of {', '.join(MODES)}")
        chunks = self.index.chunks
        if not chunks:
            return []
        analysis = analysis or self.analyse(query, lexical_weight)
        if query_vector is None:
            query_vector = self.index.embedder.embed_queries([query])[0]
        dense = self._dense_scores(query_vector)
        lexical = np.zeros(len(chunks), np.float32)
        if analysis.tokens:
            lexical = np.asarray(self.index.bm25.get_scores(analysis.tokens), dtype=np.float32)
        matches = np.array([use_dates and _date_match(c, analysis.dates) for c in chunks])

        if mode == "dense":
            score = dense.copy()
        elif mode == "bm25":
            score = lexical.copy()
        elif mode == "rrf":
            score = _rrf(dense) + _rrf(lexical)
        else:
            weight = analysis.lexical_weight
            score = (1 - weight) * _z(dense) + weight * _z(lexical)
            score = score + DATE_BOOST * matches

        allowed = np.array([filters.allows(c) for c in chunks]) if filters else np.ones(len(chunks), bool)
        order = [int(i) for i in np.argsort(-score, kind="stable") if allowed[i]]
        hits: list[Hit] = []
        kept_tokens: list[set[str]] = []
        for i in order:
            tokens = set(bm25_tokens(chunks[i].text))
            if any(_jaccard(tokens, other) >= DUPLICATE_JACCARD for other in kept_tokens):
                continue
            kept_tokens.append(tokens)
            hits.append(Hit(chunks[i], float(score[i]), float(dense[i]), float(lexical[i]), bool(matches[i]), rank=len(hits) + 1))
            if len(hits) == k:
                break
        return hits

    def _dense_scores(self, query_vector: np.ndarray) -> np.ndarray:
        n = self.index.faiss.ntotal
        scores, ids = self.index.faiss.search(query_vector.reshape(1, -1).astype(np.float32), n)
        dense = np.empty(n, np.float32)
        dense[ids[0]] = scores[0]
        return dense


def _date_match(chunk: Chunk, constraints: list[str]) -> bool:
    if not constraints:
        return False
    dates = ([chunk.date] if chunk.date else []) + chunk.dates
    return any(dates_match(c, d) for c in constraints for d in dates)


def _z(values: np.ndarray) -> np.ndarray:
    std = float(values.std())
    return (values - values.mean()) / std if std > 1e-9 else np.zeros_like(values)


def _rrf(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values))
    ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return 1.0 / (RRF_K + ranks)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
