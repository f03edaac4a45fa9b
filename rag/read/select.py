"""Which sentences of the retrieved passages answer the question.

Every sentence of the top ``CANDIDATE_PASSAGES`` passages is scored:

    cosine(question, sentence) + LEXICAL_BONUS x (IDF²-weighted share of the question's
    terms in the sentence) + TYPE_BONUS x (it holds the kind of fact asked for)
    - CAPTION_PENALTY x (it is a photo caption)

The cosine carries meaning across languages; the term overlap rewards the sentence
that names what was asked ("nhất trí" for "agree"); the type bonus prefers, for "How
long is the bridge?", the sentence with "420 mét" over the one with the opening hours.

Two rules remove sentences instead of scoring them:
- **Date.** A question that names a year or month ("in 2021", "tháng 8/2024") is
  answered only from sentences that are dated then: by the dates the sentence mentions,
  or, when it mentions none, by its article's date. A sentence of an undated article
  that mentions no date cannot say when it happened, so it does not answer "in 2023".
- **Answer type.** "How many …", "How much money …", "When …" need a number, an amount or a date in the sentence
  itself; a sentence without one cannot be the answer, however close it reads.

Candidates keep the whole sentence they belong to (rag.read.articles): the score is the
piece's, the quote the sentence's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from rag.dates import dates_match
from rag.read import facts
from rag.read.articles import ArticleReader
from rag.retrieve import Hit, QueryAnalysis
from rag.text import fold, lexical_tokens

# Passages whose sentences are considered. More than the 5 shown: the sentence that
# answers is sometimes in a passage the chunk ranking put lower.
CANDIDATE_PASSAGES = 15
LEXICAL_BONUS = 0.15
TYPE_BONUS = 0.03
# A sentence from a passage that matches the question's date gets this much extra,
# on top of the date rule above: among fitting sentences, the dated match reads first.
DATE_MATCH_BONUS = 0.05
# A photo caption (rag.clean.CAPTION_MARK) restates its article in fewer words; when the
# running text says the same, the text is quoted. The size of the date bonus: a
# preference, not a rule (rag.retrieve.CAPTION_PENALTY does the same for passages).
CAPTION_PENALTY = 0.05

# Question words by answer type, matched on folded text so that Vietnamese typed
# without diacritics is read the same. "number" and "date" are *required* types (the
# sentence must hold one); "person", "place" and "list" only earn the bonus.
_TYPE_PATTERNS = {
    "year": r"\b(?:what year|which year|in what year|nam nao|nam may|vao nam nao)\b",
    "date": r"\b(?:when|what (?:year|date|day|month)|which (?:year|date|day|month)|in what year|on what date"
            r"|khi nao|bao gio|ngay nao|nam nao|thang nao|thang may|ngay may|thoi gian nao|luc nao|thoi diem nao)\b",
    "amount": r"\b(?:how much (?:money|oda|aid|capital|funding|investment|did|does|do|is|was|will)|what (?:amount|sum|value)"
              r"|what (?:was|is) the (?:value|cost|price|budget|turnover)|bao nhieu tien|tri gia bao nhieu|kinh phi|von dau tu bao nhieu"
              r"|turnover|revenue|how much did .* cost|kim ngach|doanh thu|bao nhieu (?:ty |trieu |nghin )?(?:dong|usd|tien|von))\b",
    "number": r"\b(?:how (?:many|much|long|far|big|large|old|tall|high)|what (?:percentage|share|number|amount)"
              r"|bao nhieu|bao lau|bao xa|may nguoi|may nam)\b",
    "person": r"\b(?:who|whom|whose|la ai|nguoi nao|ai da|ai la|ai se)\b|^ai\b",
    "place": r"\b(?:where|o dau|tai dau|noi nao|dia diem nao)\b",
    "list": r"\b(?:which (?:fields|areas|sectors|countries|documents|agreements)|what (?:fields|areas|sectors|documents)"
            r"|nhung gi|nhung linh vuc|cac linh vuc|nhung van kien|linh vuc nao)\b",
}
REQUIRED_TYPES = ("year", "date", "number", "amount")
# An amount is a number with a currency or a scale word after it ("350 tỷ đồng", "$2 million").
_AMOUNT = re.compile(r"\d[\d.,]*\s*(?:tỷ|triệu|nghìn|ngàn|đồng|USD|usd|yên|Yên|euro|EUR|rúp|bn|billion|million)|[$€¥]\s*\d")
_PERSON = re.compile(r"\b(?:ông|bà|Đại tướng|Thượng tướng|Trung tướng|Bộ trưởng|Thứ trưởng|Chủ tịch|Thủ tướng|Tổng thống"
                     r"|Nhà vua|Hoàng hậu|Đại sứ)\b|[A-ZĐ][\wÀ-ỹ]+ [A-ZĐ][\wÀ-ỹ]+ [A-ZĐ][\wÀ-ỹ]+")
_PLACE = re.compile(r"\b(?:tại|ở)\s+[A-ZĐ]")


def answer_type(question: str) -> str | None:
    """'year', 'date', 'amount', 'number', 'person', 'place', 'list' or None (anything else)."""
    folded = " ".join(fold(question).replace("?", " ").split())
    for kind in ("year", "date", "amount", "number", "person", "place", "list"):  # "how long ago" is a date; "how much money" an amount
        if re.search(_TYPE_PATTERNS[kind], folded):
            return kind
    return None


def has_type(kind: str | None, sentence: str, dates: list[str]) -> bool:
    """Whether the sentence holds a fact of the kind asked for."""
    if kind == "number":
        return bool(facts.numbers(sentence))
    if kind == "year":
        return bool(re.search(r"(?<![\d.,])(?:19|20)\d{2}(?![\d.,]\d)", sentence))
    if kind == "date":
        return bool(dates) or facts.mentions_date(sentence)
    if kind == "amount":
        return bool(_AMOUNT.search(sentence))
    if kind == "person":
        return bool(_PERSON.search(sentence))
    if kind == "place":
        return bool(_PLACE.search(sentence))
    if kind == "list":
        return sentence.count(",") + sentence.count(";") >= 2
    return True


def fits_dates(asked: list[str], mentioned: list[str], article_date: str | None) -> bool:
    """The date rule (module docstring): True when the question names no date, or when
    the sentence's own dates, else its article's, match one it names."""
    if not asked:
        return True
    own = mentioned or ([article_date] if article_date else [])
    return any(dates_match(a, d) for a in asked for d in own)


@dataclass
class Candidate:
    score: float
    cosine: float  # the question's own (the gate's signal)
    hit: Hit
    span: tuple[int, int]  # the whole sentence, article offsets
    fits_date: bool
    has_type: bool


def candidates(analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray, articles: ArticleReader,
               kind: str | None) -> list[Candidate]:
    """Every sentence of the top passages, best first, with the two rules' verdicts
    (the gate, not this function, drops what they rule out)."""
    hits = hits[:CANDIDATE_PASSAGES]
    articles.load(h.chunk.doc_id for h in hits)  # sentences not embedded yet: one call for all
    # An English question with an LLM rendering: sentences are scored with the rendering
    # joined in (``query_vector``), as passages were, which put the answer in the quote for
    # 0.439 of XQuAD's calibration-half English questions against 0.421 with the question
    # alone; the gate still reads the question's own cosine, the one it is calibrated on.
    rows: dict[tuple[str, tuple[int, int]], list] = {}  # (doc, sentence) -> [hit, span, cosine, own cosine]
    for hit in hits:
        pieces, vectors = articles.sentences(hit.chunk)
        if not pieces:
            continue
        cosines = vectors @ query_vector
        owns = cosines if analysis.own_vector is None else vectors @ analysis.own_vector
        for piece, cosine, own in zip(pieces, cosines, owns):
            span = articles.whole_sentence(hit.chunk.doc_id, piece)
            row = rows.setdefault((hit.chunk.doc_id, span), [hit, span, -1.0, -1.0])
            # Overlapping chunks share a sentence, and a long sentence has several pieces:
            # one candidate per sentence, with its best piece's cosine.
            row[2], row[3] = max(row[2], float(cosine)), max(row[3], float(own))
    terms_of = {key: set(lexical_tokens(articles.text(key[0])[key[1][0] : key[1][1]])) for key in rows}
    # The question's date picks passages; inside them it is context, not what the answer
    # is about, so "2021" does not count as a matching term.
    years = {d[:4] for d in analysis.dates}
    terms_asked = [t for t in analysis.tokens if not any(y in t for y in years)]
    # Captions restate their article: they do not make its words less distinctive.
    weights = _local_term_weights(terms_asked, [terms for key, terms in terms_of.items() if not rows[key][0].chunk.caption])
    total = sum(weights.values()) or 1.0
    out = []
    for key, (hit, span, cosine, own) in rows.items():
        terms = terms_of[key]
        sentence = articles.text(hit.chunk.doc_id)[span[0] : span[1]]
        mentioned = facts.dates(sentence, hit.chunk.date)
        typed = has_type(kind, sentence, sorted(mentioned))
        score = (cosine + LEXICAL_BONUS * sum(w for t, w in weights.items() if t in terms) / total
                 + DATE_MATCH_BONUS * hit.date_match + TYPE_BONUS * typed - CAPTION_PENALTY * hit.chunk.caption)
        fits = fits_dates(analysis.dates, sorted(mentioned), hit.chunk.date)
        out.append(Candidate(score, own, hit, span, fits, typed))
    out.sort(key=lambda c: -c.score)
    return out


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
