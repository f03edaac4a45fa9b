"""Pure metric functions, kept free of the index so that each can be checked by hand.

Ranking metrics take a list of booleans: the relevance of the retrieved items, best
first. Recall@k here is the usual reading for question answering ("success@k"): 1 when
at least one relevant item is among the first k, else 0; averaged over questions it is
the share of questions whose evidence was found in the top k. nDCG uses binary gains,
the log2(rank + 1) discount, and an ideal ranking that puts every relevant item first.

Span relevance. A gold span is an exact substring of the cleaned article text; a chunk
is ``article.text[start:end]``, so both are compared as character intervals. Chunks are
cut at sentence boundaries and overlap by one sentence, so a span can straddle two
chunks. The rule: a chunk of a gold document is relevant to a span when they overlap
by at least half of the shorter of the two, i.e.

    overlap(chunk, span) >= 0.5 * min(len(span), len(chunk))

It covers the three cases that occur: the chunk contains the whole span; the chunk
holds at least half of a span cut at its edge (so a span cut in two halves makes both
chunks relevant, one that is mostly elsewhere makes only one); and a span longer than
a chunk (a whole paragraph) makes every chunk that lies mostly inside it relevant.

Answer correctness. ``answer_all`` is a list of groups of alternatives; an answer is
correct when it contains one alternative of every group, compared after NFC
normalisation, case folding and whitespace collapsing.

Trust in the citations. A question that names a year ("in 2021", "tháng 8/2024") is
about that year: a cited article dated in another year is a wrong-year citation, the
error of quoting the 2024 article for a 2021 question. An undated article is not
counted wrong (nothing says it is from another year). A quote piece is a whole-sentence
quote when, in the article, it begins where a sentence begins and ends where a sentence
(the same or a later one) ends, so a reader is never shown half a sentence as evidence.

SQuAD metrics (XQuAD) use the official v1.1 normalisation (lower case, no punctuation,
no English articles, single spaces) with two changes for Vietnamese, as MLQA does:
text is NFC-normalised first and punctuation is any Unicode punctuation (“ ” – …).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from rag.text import trim_span

RELEVANT_OVERLAP = 0.5


# ------------------------------------------------------------------ ranking
def first_relevant_rank(relevance: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant item, or None when there is none."""
    return next((i + 1 for i, rel in enumerate(relevance) if rel), None)


def recall_at_k(relevance: Sequence[bool], k: int) -> float:
    """1.0 when a relevant item is among the first ``k``, else 0.0 (success@k)."""
    return 1.0 if any(relevance[:k]) else 0.0


def reciprocal_rank(relevance: Sequence[bool]) -> float:
    rank = first_relevant_rank(relevance)
    return 1.0 / rank if rank else 0.0


def ndcg_at_k(relevance: Sequence[bool], k: int, n_relevant: int | None = None) -> float:
    """Binary nDCG@k. ``n_relevant`` is how many relevant items exist in the whole
    collection (the ideal ranking puts min(n_relevant, k) of them first); by default,
    the number among ``relevance``."""
    n_relevant = sum(map(bool, relevance)) if n_relevant is None else n_relevant
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n_relevant, k)))
    if ideal == 0:
        return 0.0
    gained = sum(1.0 / math.log2(i + 2) for i, rel in enumerate(relevance[:k]) if rel)
    return gained / ideal


# --------------------------------------------------------------- aggregates
def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear interpolation between closest ranks (as
    numpy's default); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ------------------------------------------------------------ span relevance
def locate_span(text: str, span: str) -> tuple[int, int] | None:
    """Character interval of ``span`` in ``text``: exact match first, then one that
    tolerates differences in whitespace (line breaks vs spaces). None if absent."""
    span = unicodedata.normalize("NFC", span.strip())
    if not span:
        return None
    start = text.find(span)
    if start >= 0:
        return start, start + len(span)
    pattern = r"\s+".join(re.escape(part) for part in span.split())
    match = re.search(pattern, text)
    return (match.start(), match.end()) if match else None


def overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Characters shared by two half-open intervals."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def chunk_relevant(chunk: tuple[int, int], spans: Iterable[tuple[int, int]]) -> bool:
    """Whether a chunk (article offsets) is relevant to any of the gold spans of the
    same article; see the module docstring for the rule."""
    chunk_len = chunk[1] - chunk[0]
    for span in spans:
        shared = overlap(chunk, span)
        if shared > 0 and shared >= RELEVANT_OVERLAP * min(span[1] - span[0], chunk_len):
            return True
    return False


# -------------------------------------------------------- answer correctness
def normalize_text(text: str) -> str:
    """NFC, case-folded, whitespace collapsed: the form answers are compared in."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def answer_correct(answer: str, groups: Sequence[Sequence[str]]) -> bool:
    """True when ``answer`` contains an alternative of every group. No groups: False
    (there is nothing to check against)."""
    if not groups:
        return False
    answer = normalize_text(answer)
    return all(any(alt.strip() and normalize_text(alt) in answer for alt in group) for group in groups)


# -------------------------------------------------------- citation trust
_YEAR_RANGE = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*[-–]\s*((?:19|20)\d{2})(?!\d)")


def asked_years(dates: Iterable[str], question: str = "") -> set[str]:
    """The years a question asks about: those of its ISO date prefixes
    (``rag.dates.query_dates``: "2024-08" -> "2024"), and every year of a period it
    names ("giai đoạn 2020 - 2025" asks about 2024 too, not only its two ends)."""
    years = {d[:4] for d in dates if len(d) >= 4}
    for m in _YEAR_RANGE.finditer(question):
        first, last = int(m[1]), int(m[2])
        if first < last:
            years.update(str(y) for y in range(first, last + 1))
    return years


def wrong_year(citation_date: str | None, years: Iterable[str]) -> bool:
    """True when a cited article's date ("YYYY-MM-DD") is from none of the ``years`` the
    question asks about. Undated articles, and questions that ask no year, are never wrong."""
    years = set(years)
    return bool(years and citation_date and citation_date[:4] not in years)


def whole_sentence(text: str, start: int, end: int, sentences: Sequence[tuple[int, int]]) -> bool:
    """Whether ``text[start:end]`` (whitespace around it ignored) begins at the start of
    one of ``sentences`` and ends at the end of one (``rag.text.split_sentences(text)``)."""
    start, end = trim_span(text, start, end)
    if start >= end:
        return False
    return start in {s for s, _ in sentences} and end in {e for _, e in sentences}


# ------------------------------------------------------------------- SQuAD
def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation, Unicode-aware (see module docstring)."""
    text = unicodedata.normalize("NFC", text).lower()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    pred = normalize_answer(prediction)
    return 1.0 if any(pred == normalize_answer(g) for g in golds) else 0.0


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Best token-level F1 against the gold answers."""
    pred_tokens = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        gold_tokens = normalize_answer(gold).split()
        common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
        if common:
            precision, recall = common / len(pred_tokens), common / len(gold_tokens)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def answer_in_text(text: str, golds: Sequence[str]) -> float:
    """1.0 when a normalised gold answer occurs in the normalised text as whole tokens
    ("308" is not found in "3080")."""
    haystack = f" {normalize_answer(text)} "
    return 1.0 if any(g and f" {g} " in haystack for g in map(normalize_answer, golds)) else 0.0
