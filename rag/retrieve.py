"""Hybrid retrieval: dense (FAISS) plus BM25 on folded tokens, date-aware, filtered.

Fusion. BM25 on an English question over Vietnamese text is noise: equal-weight RRF
dropped XQuAD en->vi R@1 from 0.75 to 0.44 (shared/NOTES.md). So the lexical weight is
set per question by its *lexical evidence*: the share of the question's content tokens
that occur in the corpus vocabulary (after folding diacritics), times a maximum that
depends on the question's language. A Vietnamese question, with or without marks, is
almost fully covered and gets the full weight; an English
question is covered by names and numbers ("ARMY-2024", "Shoigu") and by the English
words that ``rag.glossary`` translates ("agree" -> "nhất trí"), which BM25 then matches.
Scores are z-normalised per question, over the candidates the store returns, before
mixing, so the weight means the same for any corpus size.

Dates. A year, month or day in the question ("in 2021", "năm 2021", "tháng 8/2024")
adds ``DATE_BOOST`` (in z units) to chunks whose article date or mentioned dates match.
A boost, not a filter: undated articles can still answer.

Marks. A Vietnamese question typed without diacritics is embedded with its marks put
back from the passages its words match (rag.diacritics): the encoder barely reads it
otherwise.

Captions. A chunk of photo captions (rag.clean.CAPTION_MARK) loses ``CAPTION_PENALTY``
(z units) in hybrid fusion: found when only a caption says it, behind the running text
when both do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from rag.chunk import Chunk
from rag.dates import query_dates
from rag.diacritics import restore
from rag.embed import Embedder
from rag.glossary import GLOSSARY, expand
from rag.store import Filters, Query, Store
from rag.text import EN_STOPWORDS, content_terms, detect_language, lexical_tokens, words

if TYPE_CHECKING:  # rag.query_translation reads answers' modules, which read this one
    from rag.query_translation import Rendering

# The lexical weight at full coverage, per question language: the best R@1 of a sweep on
# XQuAD's calibration half only (scripts/calibrate.py; README "Halves"). English R@1 is
# flat from 0.3 to 0.8 (within one question of 492); the sweep's rule picks the top.
# Without diacritics the question is embedded with its marks restored (query_vector):
# dense alone then reaches R@1 0.86, and the best weight fell from 0.8 to 0.6.
LEXICAL_WEIGHT = {"en": 0.8, "vi": 0.3, "vi-nodiac": 0.6}
# The same for an English question searched with its LLM rendering (rag.query_translation),
# swept on the calibration half with the LLM (scripts/calibrate.py --llm): R@1 0.799 /
# 0.801 / 0.803 / 0.797 / 0.795 at 0.2 / 0.3 / 0.35 / 0.5 / 0.8; swept again with the
# worked-example rendering prompt at rendering weight 1: 0.821 / 0.821 / 0.821 / 0.819 at
# 0.2 / 0.35 / 0.5 / 0.8, so it stays. The rendering's own Vietnamese terms carry the lexical
# side there, so the English side needs less weight.
LEXICAL_WEIGHT_RENDERED = 0.35
DATE_BOOST = 1.0
# Half a DATE_BOOST: a caption restates its article's text in fewer words, so it would
# often outrank the paragraph it illustrates; set by that reasoning, not fitted (XQuAD
# has no captions; the question set's caption questions are checked, not tuned, with it).
CAPTION_PENALTY = 0.5
# Two chunks sharing this share of their tokens are the same passage twice (a
# syndicated article indexed from two files); only the better one is shown.
DUPLICATE_JACCARD = 0.8
MODES = ("hybrid", "dense", "bm25", "rrf")
RRF_K = 60
# Chunks the store returns per list (dense, lexical, and each again among the chunks
# matching the question's dates). Fusion ranks their union; a chunk outside every list
# could only win with a score it cannot have at rank > 100 of both. README "Storage"
# measures recall at this depth against scoring every chunk.
CANDIDATES = 100
# The passages a question without diacritics takes its spellings from: the best by BM25.
# XQuAD calibration half, restored-only query vector: R@1 0.94 with 10, 20 or 40 (0.915
# without restoring); 20 is the middle.
RESTORE_PASSAGES = 20


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
    # In how many chunks each term occurs: every term of the question and of its glossary
    # expansions, ``tokens`` included. Read once; fusion, the store and the answerer share it.
    term_counts: dict[str, int] = field(default_factory=dict)
    # A question without diacritics with its marks put back (Retriever.query_vector).
    restored: str | None = None
    # An English question's Vietnamese rendering by the LLM, joined in (Retriever.with_rendering),
    # and the question's own vector from before: the gate's cosine is calibrated on it.
    rendering: str | None = None
    own_vector: np.ndarray | None = field(default=None, compare=False, repr=False)


def selective_terms(terms: list[str], counts: dict[str, int], chunks: int) -> list[str]:
    """The terms worth matching: those in at most half of the chunks. "viet", "nam"
    and "viet_nam" are in 60-90% of news chunks; their IDF is near zero, so they barely
    move a ranking, yet their postings are the longest to walk. On the question set,
    keeping them changed R@1 by +0.01 and answer accuracy by -0.01 (one question each),
    so they stay out (README "Storage"). When every term is that common (a handful of
    articles on one subject), all are kept: some lexical signal beats none."""
    selective = [t for t in terms if 2 * counts.get(t, 0) <= chunks]
    return selective or terms


class Retriever:
    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder

    def analyse(self, query: str, lexical_weight: float | None = None) -> QueryAnalysis:
        """``query`` is normalised already (rag.pipeline.check_question)."""
        language = detect_language(query)
        tokens = lexical_tokens(query)
        if language == "en":
            content = [t for t in words(query) if t not in EN_STOPWORDS]
            expansions = {t: expand([t]) for t in content}
            vocabulary = self.store.term_counts(content + [w for ws in expansions.values() for w in ws])
            translated = {t: [w for w in expansions[t] if w in vocabulary] for t in content}
            covered = sum(t in vocabulary or bool(translated[t]) for t in content)
            # A translated word is searched in Vietnamese only: the English spelling
            # matches nothing or noise ("vietnam" in the credit "Vietnam+").
            tokens = [t for t in content if t not in GLOSSARY] + [w for t in content for w in translated[t]]
        else:
            content = words(query)
            vocabulary = self.store.term_counts(tokens)  # syllables (the content words) and pairs
            covered = sum(t in vocabulary for t in content)
        coverage = covered / len(content) if content else 0.0
        tokens = content_terms(tokens)
        weight = LEXICAL_WEIGHT[language] * coverage if lexical_weight is None else lexical_weight
        return QueryAnalysis(language, tokens, coverage, weight, query_dates(query), vocabulary)

    def query_vector(self, query: str, analysis: QueryAnalysis) -> np.ndarray:
        """The vector ``query`` is searched with. A Vietnamese question without diacritics
        is embedded with its marks restored from the passages that BM25 finds for it
        (rag.diacritics), and ``analysis.restored`` records the spelling: on XQuAD's
        calibration half that took R@1 from 0.915 to 0.94 (README "XQuAD")."""
        vector = self.embedder.embed_queries([query])[0]
        if analysis.language != "vi-nodiac":
            return vector
        terms = selective_terms(analysis.tokens, analysis.term_counts, self.store.size())
        # The store's dense list comes along with the lexical one; only the latter is read.
        # No filters: spellings are the corpus's, whichever articles the search may use.
        found = self.store.candidates(Query(vector, terms, RESTORE_PASSAGES)) if terms else []
        best = sorted((c for c in found if c.lexical > 0), key=lambda c: -c.lexical)[:RESTORE_PASSAGES]
        chunks = self.store.chunks([c.key for c in best])
        restored = restore(query, (f"{c.title}. {c.text}" for c in chunks.values()))
        if restored == query:
            return vector
        analysis.restored = restored
        return self.embedder.embed_queries([restored])[0]

    def prepare(self, query: str, lexical_weight: float | None = None,
                rendering: Rendering | None = None) -> tuple[np.ndarray, QueryAnalysis]:
        """The query vector and analysis that retrieval and the reader use: the query's
        own, joined with its ``rendering`` (an English question's Vietnamese translation,
        rag.query_translation) when there is one."""
        analysis = self.analyse(query, lexical_weight)
        vector = self.query_vector(query, analysis)
        if rendering is None:
            return vector, analysis
        return self.with_rendering(vector, analysis, rendering, lexical_weight)

    def with_rendering(self, vector: np.ndarray, analysis: QueryAnalysis, rendering: Rendering,
                        lexical_weight: float | None) -> tuple[np.ndarray, QueryAnalysis]:
        """The query vector and analysis of an English question joined with its Vietnamese
        rendering's: its vector plus the rendering's times the rendering's weight (so dense
        scores are the same weighted sum of both cosines),
        both sets of lexical terms, and the larger of two lexical weights: the English
        question's at ``LEXICAL_WEIGHT_RENDERED``, and the one the rendering earns as a
        Vietnamese question, scaled by its weight. The dates stay the question's own.
        The reader reads the question the same way (RAG.ask)."""
        other = self.analyse(rendering.text, lexical_weight)
        joined = _unit(vector + rendering.weight * self.embedder.embed_queries([rendering.text])[0]).astype(np.float32)
        weight = analysis.lexical_weight if lexical_weight is not None else max(
            LEXICAL_WEIGHT_RENDERED * analysis.coverage, rendering.weight * other.lexical_weight)
        return joined, replace(
            analysis, tokens=list(dict.fromkeys(analysis.tokens + other.tokens)), lexical_weight=weight,
            term_counts={**other.term_counts, **analysis.term_counts}, rendering=rendering.text, own_vector=vector,
        )

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
        rendering: Rendering | None = None,
    ) -> list[Hit]:
        """The top ``k`` chunks. ``query_vector`` and ``analysis`` may be passed in by a
        caller that already prepared them for the same query (``RAG.ask``); otherwise the
        search prepares them, with ``rendering`` if given (``prepare``)."""
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode '{mode}'; use one of {', '.join(MODES)}")
        if query_vector is None or analysis is None:
            query_vector, analysis = self.prepare(query, lexical_weight, rendering)
        dates = analysis.dates if use_dates else []
        terms = selective_terms(analysis.tokens, analysis.term_counts, self.store.size()) if mode != "dense" else []
        candidates = self.store.candidates(Query(query_vector, terms, max(CANDIDATES, k), filters, dates))
        if not candidates:
            return []
        dense = np.array([c.dense for c in candidates], np.float32)
        lexical = np.array([c.lexical for c in candidates], np.float32)
        matches = np.array([c.date_match for c in candidates])
        if mode == "dense":
            score = dense.copy()
        elif mode == "bm25":
            score = lexical.copy()
        elif mode == "rrf":
            score = _rrf(dense) + _rrf(lexical)
        else:
            weight = analysis.lexical_weight
            score = (1 - weight) * _z(dense) + weight * _z(lexical) + DATE_BOOST * matches
        order = np.argsort(-score, kind="stable")
        penalty = CAPTION_PENALTY if mode == "hybrid" else 0.0
        hits: list[Hit] = []
        kept_tokens: list[set[str]] = []
        # Chunks are read from the store in small batches, best first. A caption's score
        # drops when it is read, so reading stops once k chunks score at least the best
        # score not read yet (which no unread chunk can then beat).
        batch = 2 * k + 8
        for start in range(0, len(order), batch):
            rows = [int(i) for i in order[start : start + batch]]
            chunks = self.store.chunks([candidates[i].key for i in rows])
            for i in rows:
                chunk = chunks.get(candidates[i].key)
                if chunk is None:  # removed by another process meanwhile
                    continue
                tokens = set(lexical_tokens(chunk.text))
                if any(_jaccard(tokens, other) >= DUPLICATE_JACCARD for other in kept_tokens):
                    continue
                kept_tokens.append(tokens)
                fused = float(score[i]) - penalty * chunk.caption
                hits.append(Hit(chunk, fused, float(dense[i]), float(lexical[i]), bool(matches[i])))
            hits.sort(key=lambda h: -h.score)
            unread = start + batch
            if len(hits) >= k and (unread >= len(order) or hits[k - 1].score >= score[order[unread]]):
                break
        for rank, hit in enumerate(hits[:k], 1):
            hit.rank = rank
        return hits[:k]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _z(values: np.ndarray) -> np.ndarray:
    std = float(values.std())
    return (values - values.mean()) / std if std > 1e-9 else np.zeros_like(values)


def _rrf(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values))
    ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return 1.0 / (RRF_K + ranks)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
