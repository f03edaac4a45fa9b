"""Text primitives shared by cleaning, chunking, BM25 and answering.

Vietnamese is written in syllables separated by spaces, so a "word token" here is a
syllable. Users often type without diacritics ("hop tac quoc phong"), so every lexical
comparison happens on *folded* text: NFD-decomposed, combining marks removed, đ→d,
lower-cased.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)

# Lower-case Vietnamese letters that carry a diacritic; their presence is the cheapest
# reliable sign that a question is Vietnamese.
_VI_MARKED = set("àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ")

# Vietnamese function words (folded): they carry no topic, and question bigrams that
# span them ("nga_da" in "Nga đã") match sentences by accident.
VI_STOPWORDS = frozenset(
    """
    la cua va co khong gi nao bao nhieu nhung cac mot nhu the nay do o tai voi cho duoc
    da se dang ve tu den trong khi thi sao ai dau hay hoac ma nhu rang vay con
    """.split()
)

# English function words; kept out of the BM25 query so they cannot match a stray
# Vietnamese syllable that happens to be spelled the same ("in", "to", "an").
EN_STOPWORDS = frozenset(
    """
    a an and are as at be been by did do does for from had has have how in into is it
    its of on or that the their there these this to was were what when where which who
    whom whose why will with about after before between during than then they them
    he she his her we our you your i me my not no yes can could would should may might
    """.split()
)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


class _CombiningMarks(dict):
    """A ``str.translate`` table that deletes combining marks, filled as characters are
    met: a per-character Python test was half of the indexing time."""

    def __missing__(self, code: int) -> int | None:
        self[code] = None if unicodedata.combining(chr(code)) else code
        return self[code]


_COMBINING_MARKS = _CombiningMarks()


def fold(text: str) -> str:
    """Lower-case and strip Vietnamese diacritics: "Hợp tác" -> "hop tac"."""
    return unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d")).translate(_COMBINING_MARKS)


@functools.lru_cache(maxsize=1 << 17)
def _fold_word(word: str) -> str:
    return fold(word)


def words(text: str) -> list[str]:
    """Folded word (syllable) tokens. A language has a few thousand syllables, so each
    is folded once and then looked up (the same tokens as folding the whole text)."""
    return [_fold_word(w) for w in _WORD.findall(nfc(text))]


def content_terms(tokens: list[str]) -> list[str]:
    """Drop stopwords, and syllable pairs with a stopword in them, from query terms."""
    stop = VI_STOPWORDS | EN_STOPWORDS
    return [t for t in tokens if not any(part in stop for part in t.split("_"))]


def has_vietnamese_marks(text: str) -> bool:
    return any(ch in _VI_MARKED for ch in text.lower())


# The shape of a Vietnamese syllable once folded: optional onset, vowel nucleus,
# optional coda. Most English words do not fit it ("what", "many", "did", "agree").
VI_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?"
    r"(?:uye|uya|uyu|ieu|yeu|uoi|uou|oai|oay|oeo|uay|uai|uy|uu|ia|ie|ua|uo|ue|ui|oi|oa|oe|ai|ao|au|ay|eo|eu|iu|[aeiouy])"
    r"(?:ng|nh|ch|[cmnpt])?"
)
_NUMBER = re.compile(r"\d+")


def detect_language(text: str) -> str:
    """'vi', 'vi-nodiac' or 'en' for a question.

    Diacritics decide at once. Without them, a question whose words nearly all have the
    shape of Vietnamese syllables, and are rarely English function words, is Vietnamese
    typed without marks. On XQuAD: all 1190 English questions are 'en', 96% of the
    Vietnamese ones with marks stripped are 'vi-nodiac' (the rest are mostly foreign
    names: "ai da gianh super bowl xlix").
    """
    if has_vietnamese_marks(text):
        return "vi"
    # Capitalised words after the first are names ("Super Bowl", "Tesla"): any language.
    raw = _WORD.findall(text)
    tokens = [fold(t) for i, t in enumerate(raw) if not _NUMBER.fullmatch(t) and (i == 0 or not t[0].isupper())]
    if not tokens:
        return "en"
    syllable_share = sum(bool(VI_SYLLABLE.fullmatch(t)) for t in tokens) / len(tokens)
    en_share = sum(t in EN_STOPWORDS for t in tokens) / len(tokens)
    return "vi-nodiac" if syllable_share >= 0.7 and en_share < 0.25 else "en"


# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets) when the
# next sentence starts with an upper-case letter, a digit or an opening quote. Captures
# often glue sentences together ("tháng 9.Chủ tịch"), so whitespace is optional, but a
# lone capital before the dot ("V.Putin"), a known abbreviation ("TP.HCM") or digits on
# both sides ("51.000") do not end a sentence. Upper case is spelled out: the range
# À-Ỹ also holds lower-case letters.
_UPPER = "".join(sorted({c for c in map(chr, range(0x41, 0x1EFA)) if c.isupper() and unicodedata.name(c, "").startswith("LATIN")}))
# Abbreviations whose dot ends no sentence: "TP.HCM", "TP. Hồ Chí Minh", "PGS.TS.", "ThS.".
_ABBREVIATIONS = ("TP", "PGS", "GS", "TS", "ThS", "BS", "KS", "Q", "P", "St", "Mr", "Mrs", "Dr")
_SENTENCE_END = re.compile(
    "".join(f"(?<!\\b{a})" for a in _ABBREVIATIONS)
    + rf"(?<![\s.][{_UPPER}])(?<!^[{_UPPER}])[.!?…]+[\"”’)\]]*(?:\s+|(?=[{_UPPER}“\"]))(?=[{_UPPER}“\"\[(0-9])",
)


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in ``text``, whitespace-trimmed, never crossing a
    line break (a line is a paragraph in cleaned text)."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        base = start + line.start()
        segment = line.group()
        cut = 0
        for m in _SENTENCE_END.finditer(segment):
            stop = m.start() + len(m.group().rstrip())
            if stop > cut:
                spans.append((base + cut, base + stop))
                cut = m.end()
        spans.append((base + cut, base + len(segment)))
    return [trim_span(text, s, e) for s, e in spans if text[s:e].strip()]


def trim_span(text: str, s: int, e: int) -> tuple[int, int]:
    """``(s, e)`` without the whitespace at either end of ``text[s:e]``."""
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


# Bumped whenever ``lexical_tokens`` changes: the lexical index stores its output, and a
# store built with another version must be re-tokenised, not queried.
LEXICAL_TOKENS_VERSION = "syllables+pairs/1"


def lexical_tokens(text: str) -> list[str]:
    """Folded syllables plus adjacent syllable pairs, the terms of the lexical index.
    Most Vietnamese words have two syllables, and folding merges distinct syllables
    ("nhất", "Nhật" -> "nhat"); the pair "nhat_tri" keeps "nhất trí" (agree) apart from
    "Nhật Bản" (Japan)."""
    syllables = words(text)
    return syllables + [f"{a}_{b}" for a, b in zip(syllables, syllables[1:])]
