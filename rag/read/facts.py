"""The checkable facts of a sentence: numbers, dates and names.

Readers use them three ways: a "how many" question needs a sentence with a number in
it (rag.read.select), a translation must keep every one of its source's (rag.read.translate),
and a generated sentence is supported only when its own are in the sentence it cites
(rag.read.generate). Vietnamese and English spell them differently ("51.000" and
"51,000"; "ngày 2/9/2023" and "September 2, 2023"; "Hà Nội" and "Hanoi"), so each
kind is reduced to a form both languages share before comparing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.dates import mentioned_dates
from rag.glossary import GLOSSARY
from rag.text import VI_SYLLABLE as _VI_SYLLABLE
from rag.text import fold

# A number: digits with group separators ("51.000", "51,000", "1 200") or a decimal
# part, not part of a date ("2/9/2023", "6/2024") or an identifier ("ARMY-2024").
_NUMBER = re.compile(r"(?<![\w/.,-])(\d{1,3}(?:[.,  ]\d{3})+|\d+(?:[.,]\d+)?)(?![\w/]|[.,]\d)")
_DATE_WORDS = re.compile(r"\b(?:ngay|thang)\s+\d{1,2}\b|\bnam\s+(?:19|20)\d{2}\b")
_DATE_LIKE = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}/\d{4}|\d{1,2}/\d{1,2}|\b(?:19|20)\d{2}\b")
# Scale words after a number, folded: "350 tỷ đồng" is 350e9, "1,5 triệu" 1.5e6.
_SCALES = {"nghin": 1e3, "ngan": 1e3, "trieu": 1e6, "ty": 1e9, "thousand": 1e3, "million": 1e6, "billion": 1e9,
           "trillion": 1e12}
_SCALE_AFTER = re.compile(r"\s*(" + "|".join(_SCALES) + r")\b")
# Units whose change a number check alone would miss ("350 tỷ đồng" -> "350 billion
# yuan"): the folded Vietnamese unit after a number, and how English may write it.
_UNITS = {"dong": ("vnd", "dong", "vietnamese"), "usd": ("usd", "$", "dollar"), "met": ("met", "-m", " m "),
          "km": ("km", "kilomet"), "tan": ("ton",), "ha": ("hectare", " ha")}
_UNIT_AFTER = re.compile(r"\s*(?:(?:" + "|".join(_SCALES) + r")\s+)?(" + "|".join(_UNITS) + r")\b")

_EN_MONTHS = ("January February March April May June July August September October November December").split()
_MONTH = r"(" + "|".join(m + "|" + m[:3] for m in _EN_MONTHS) + r")\.?"
_ORD = r"(\d{1,2})(?:st|nd|rd|th)?"
# English date phrasings, rewritten in the Vietnamese numeric forms that
# rag.dates.mentioned_dates already reads, so both sides go through one parser.
_EN_DATES = (
    (re.compile(rf"\b{_MONTH}\s+{_ORD},?\s+(\d{{4}})\b"), lambda m: f"{m[2]}/{_month(m[1])}/{m[3]}"),
    (re.compile(rf"\b{_ORD}\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b"), lambda m: f"{m[1]}/{_month(m[2])}/{m[3]}"),
    (re.compile(rf"\b{_MONTH},?\s+(\d{{4}})\b"), lambda m: f"tháng {_month(m[1])}/{m[2]}"),
    (re.compile(rf"\b{_MONTH}\s+{_ORD}\b"), lambda m: f"{m[2]}/{_month(m[1])}"),
    (re.compile(rf"\b{_ORD}\s+(?:of\s+)?{_MONTH}\b"), lambda m: f"{m[1]}/{_month(m[2])}"),
    (re.compile(rf"\b{_MONTH}\b"), lambda m: f"tháng {_month(m[1])}"),
)

# A name: a run of capitalised words. Runs that open with one of these are titles and
# institutions ("Bộ Quốc phòng", "Đại tướng", "Thủ tướng"), which a translation renders
# in words ("Ministry of Defence"), not names it must keep letter for letter.
_WORD = re.compile(r"\w+(?:-\w+)*")
# Compared with their marks: folded, "Lễ" (ceremony) would strip the surname "Lê".
_TITLE_WORDS = frozenset(w.lower() for w in (
    "Bộ Cục Ban Đại Thượng Trung Thứ Chủ Thủ Tổng Phó Ủy Hội Quân Học Viện Nhà Liên Đảng Sở Quốc Đối Chính Văn Lễ "
    "Hiệp Thỏa Hai Đoàn Tòa Cơ Công Diễn Triển Cuộc Trường Bệnh Hòa Nghị Ngày Tháng Năm Theo Tại Trong Với Các Những "
    "Đồng Thiếu Trưởng Tư Hải Không Lục Phòng Sư Lữ Binh Cảnh Hạm Tàu The A An In On At Vietnam Viet Minister General"
).split())
# "Nhật Bản" -> "japan", "Liên bang Nga" -> "russia": the glossary's places, read backwards.
_PLACES = ("vietnam", "russia", "japan", "china", "france", "america", "korea", "laos", "cambodia", "europe", "asia",
           "india", "australia", "germany", "britain", "africa", "moscow", "hanoi", "tokyo")
_COUNTRY_NAMES: dict[str, set[str]] = {}
for _english in _PLACES:
    for _phrase in GLOSSARY[_english]:
        _COUNTRY_NAMES.setdefault(fold(_phrase), set()).add(_english)


def _month(name: str) -> int:
    return next(i for i, m in enumerate(_EN_MONTHS, 1) if m.lower().startswith(name.lower()[:3]))


def numbers(text: str) -> set[float]:
    """The numbers a sentence states, with their scale words applied; dates and years
    ("tháng 9", "ngày 13") are left to ``dates``."""
    folded = _DATE_WORDS.sub(" ", fold(_DATE_LIKE.sub(" ", _english_dates(text))))
    found = set()
    for m in _NUMBER.finditer(folded):
        value = _number_value(m[1])
        scale = _SCALE_AFTER.match(folded, m.end())
        found.add(round(value * (_SCALES[scale[1]] if scale else 1), 6))
    return found


def _number_value(raw: str) -> float:
    """"51.000", "51,000" and "51 000" are 51000; "1,5" and "1.5" are 1.5 (a separator
    followed by exactly three digits groups thousands, in either language)."""
    raw = raw.replace("\u00a0", " ")
    if re.fullmatch(r"\d{1,3}(?:[., ]\d{3})+", raw):
        return float(re.sub(r"[., ]", "", raw))
    return float(raw.replace(",", "."))


def dates(text: str, published: str | None, english: bool = False) -> set[str]:
    """The dates a sentence mentions, as ISO prefixes (rag.dates.mentioned_dates);
    ``english`` reads "September 2, 2023" and "June 2024" as well."""
    return set(mentioned_dates(_english_dates(text) if english else text, published))


def _english_dates(text: str) -> str:
    for pattern, rewrite in _EN_DATES:
        text = pattern.sub(rewrite, text)
    return text




def mentions_date(text: str) -> bool:
    """Whether a sentence names a date or period at all, year or not: "Chiều 28/9" in
    an undated article names a day that ``dates`` cannot place in a year."""
    folded = fold(_english_dates(text))
    return bool(_DATE_LIKE.search(folded) or _DATE_WORDS.search(folded))


def units(text: str) -> set[str]:
    """The units stated after numbers (folded): {"dong", "met"} in "dài 420 mét … 350 tỷ đồng"."""
    folded = fold(_DATE_LIKE.sub(" ", text))
    return {u[1] for m in _NUMBER.finditer(folded) if (u := _UNIT_AFTER.match(folded, m.end()))}


def names(text: str) -> list[str]:
    """Proper names a translation must keep: runs of two or more capitalised words,
    other than titles and institutions, and not the sentence's first word alone."""
    runs: list[list[str]] = []
    first = True  # a capital at the start of the sentence says nothing
    previous_end = -2
    for m in _WORD.finditer(text):
        word = m[0]
        if word[0].isupper() and not word.isdigit():
            adjacent = runs and text[previous_end : m.start()] in (" ", "-")
            if adjacent:
                runs[-1].append(word)
            else:
                runs.append([word] if not first else ["^" + word])
            previous_end = m.end()
        first = False
    out = []
    for run in runs:
        words = [w.lstrip("^") for w in run]
        # The first word of a sentence is capitalised anyway: "Người Việt Nam …" names "Việt Nam".
        if run[0].startswith("^") and fold(" ".join(words)) not in _COUNTRY_NAMES:
            words = words[1:]
        while words and words[0].lower() in _TITLE_WORDS:
            words = words[1:]
        if len(words) >= 2 or (words and _one_word_name(words[0])):
            out.append(" ".join(words))
    return out


def _one_word_name(word: str) -> bool:
    """A capitalised word alone is a name when it is a country ("Nga", "Pháp": "Russian"
    must survive) or not a Vietnamese syllable ("Shoigu", "Moskva"); otherwise it is the
    first word of an institution's name ("Phái đoàn", "Lãnh đạo"), which is translated."""
    folded = fold(word)
    return folded in _COUNTRY_NAMES or not _VI_SYLLABLE.fullmatch(folded)


def name_kept(name: str, translation: str) -> bool:
    """Whether ``translation`` keeps ``name``: spelled with or without diacritics or
    spaces ("Hà Nội", "Ha Noi", "Hanoi"), by its last word ("General Giang"), or by
    its English name ("Nhật Bản" -> "Japan")."""
    folded = fold(translation)
    squeezed = folded.replace(" ", "")
    key = fold(name)
    if key in folded or key.replace(" ", "") in squeezed:
        return True
    if re.search(rf"\b{re.escape(key.split()[-1])}\b", folded) and len(key.split()[-1]) > 2:
        return True
    return any(re.search(rf"\b{e}", folded) for e in _COUNTRY_NAMES.get(key, ()))


@dataclass
class FactCheck:
    missing: list[str]  # facts of the source the other text lacks
    added: list[str]  # numbers and dates the other text states that the source does not

    @property
    def ok(self) -> bool:
        return not self.missing and not self.added

    def flags(self) -> list[str]:
        return [f"{f} is missing" for f in self.missing] + [f"{f} is not in the source" for f in self.added]


def compare(source: str, other: str, published: str | None, other_english: bool = True) -> FactCheck:
    """Which numbers, dates and names of ``source`` (Vietnamese) ``other`` lacks, and
    which numbers and dates it adds."""
    src_numbers, dst_numbers = numbers(source), numbers(other)
    src_dates, dst_dates = dates(source, published), dates(other, published, english=other_english)
    missing = [show(n) for n in sorted(src_numbers - dst_numbers)]
    missing += sorted(d for d in src_dates if not any(o == d for o in dst_dates))
    missing += [n for n in dict.fromkeys(names(source)) if not name_kept(n, other)]
    # A unit counts next to a number ("VND 350 billion", "350 billion dong") ("Dong Da district" holds no currency).
    folded = fold(other)
    after = " ".join(folded[max(m.start() - 6, 0) : m.end() + 20] + " " for m in _NUMBER.finditer(folded))
    missing += [f"the unit '{u}'" for u in sorted(units(source)) if not any(a in after for a in _UNITS[u])]
    added = [show(n) for n in sorted(dst_numbers - src_numbers)]
    added += sorted(d for d in dst_dates if d not in src_dates and not any(s.startswith(d) for s in src_dates))
    return FactCheck(missing, added)


def show(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"
