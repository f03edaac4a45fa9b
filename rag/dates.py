"""Dates: the article's publication date, the dates a passage mentions, and the date
constraint in a question.

Dates are ISO prefixes: "2021-12-01", "2024-12" or "2021". A question constraint
matches a passage date when one is a prefix of the other, so "in 2021" matches
"2021-12-01" and "tháng 8/2024" matches "2024-08-13".
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from rag.text import fold

# "17:28 | 02/12/2021 GMT+7", "09:08 - 14/08/2024", "02/07/2025" at the top of a capture.
_PUBLISHED = re.compile(r"(?:\b\d{1,2}:\d{2}\s*[|\-–,]\s*)?\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?!\d)")

_FULL = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/((?:19|20)\d{2})(?![\d/])")
_DAY_MONTH = re.compile(r"(?<![\d/.,])(\d{1,2})/(\d{1,2})(?![\d/])")
_MONTH_YEAR = re.compile(r"\bthang\s+(\d{1,2})\s*/\s*((?:19|20)\d{2})\b|(?<![\d/])(\d{1,2})/((?:19|20)\d{2})(?![\d/])")
_MONTH = re.compile(r"\bthang\s+(\d{1,2})\b(?!\s*/)")
_YEAR = re.compile(r"(?<![\d/.,])((?:19|20)\d{2})(?![\d/.,]\d)")

_EN_MONTHS = {
    m: i
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
         ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")],
        start=1,
    )
    for m in names
}
_EN_MONTH_YEAR = re.compile(r"\b(" + "|".join(_EN_MONTHS) + r")\.?\s+(?:(\d{1,2}),?\s+)?((?:19|20)\d{2})\b")


def parse_published(text: str) -> str | None:
    """The publication date of a capture: the first full date in its first lines."""
    for line in text.splitlines()[:12]:
        iso = _ISO.search(line)
        if iso:
            return _iso(int(iso[1]), int(iso[2]), int(iso[3]))
        m = _PUBLISHED.search(line)
        if m and len(line.strip()) <= 40:  # a date line, not a sentence that mentions a date
            return _iso(int(m[3]), int(m[2]), int(m[1]))
    return None


def normalise_date(value: str | None) -> str | None:
    """A user- or JSONL-supplied date ("2021-12-02", "02/12/2021") as ISO, or None."""
    if not value:
        return None
    value = str(value).strip()
    iso = _ISO.search(value)
    if iso:
        return _iso(int(iso[1]), int(iso[2]), int(iso[3]))
    m = _PUBLISHED.search(value)
    if m:
        return _iso(int(m[3]), int(m[2]), int(m[1]))
    year = re.fullmatch(r"((?:19|20)\d{2})(?:-(\d{1,2}))?", value)
    if year:
        return year[1] if not year[2] else f"{year[1]}-{int(year[2]):02d}"
    return None


def mentioned_dates(text: str, published: str | None) -> list[str]:
    """Dates a passage mentions, with a missing year taken from the article's date.

    "ngày 1/12" in an article of 2021-12-02 is 2021-12-01. A year-less date takes the
    latest year that puts it no more than a month after publication: "28/12" in a
    January article is last December, "5/1" in a late-December one is next January.
    Without a publication date, year-less mentions are dropped.
    """
    folded = fold(text)
    found: list[str] = []
    taken: list[tuple[int, int]] = []

    def free(m: re.Match) -> bool:
        return not any(s < m.end() and m.start() < e for s, e in taken)

    for m in _FULL.finditer(folded):
        if (iso := _iso(int(m[3]), int(m[2]), int(m[1]))) and free(m):
            found.append(iso)
            taken.append(m.span())
    for m in _MONTH_YEAR.finditer(folded):
        month, year = (m[1], m[2]) if m[1] else (m[3], m[4])
        if 1 <= int(month) <= 12 and free(m):
            found.append(f"{year}-{int(month):02d}")
            taken.append(m.span())
    pub = _as_date(published)
    for m in _DAY_MONTH.finditer(folded):
        if free(m) and pub and (iso := _resolve(int(m[1]), int(m[2]), pub)):
            found.append(iso)
            taken.append(m.span())
    for m in _MONTH.finditer(folded):
        if free(m) and pub and 1 <= int(m[1]) <= 12 and (iso := _resolve(1, int(m[1]), pub)):
            found.append(iso[:7])
            taken.append(m.span())
    for m in _YEAR.finditer(folded):
        if free(m):
            found.append(m[1])
    return sorted(set(found))


def query_dates(question: str) -> list[str]:
    """Date constraints in a question, most specific first: "in 2021" -> ["2021"],
    "tháng 8/2024" -> ["2024-08"], "August 13, 2024" -> ["2024-08-13"]."""
    folded = fold(question)
    found = []
    for m in _EN_MONTH_YEAR.finditer(folded):
        month = _EN_MONTHS[m[1]]
        found.append(_iso(int(m[3]), month, int(m[2])) if m[2] else f"{m[3]}-{month:02d}")
    found += mentioned_dates(question, published=None)
    # Drop a year that a more specific date already covers.
    return [d for d in sorted(set(found), key=len, reverse=True) if not any(o != d and o.startswith(d) for o in found)]


def dates_match(constraint: str, candidate: str) -> bool:
    return candidate.startswith(constraint) or constraint.startswith(candidate)


# ``dates_match`` as exact terms, for engines that match a field against a set of terms
# (tantivy, Milvus arrays) rather than running a function per chunk. A chunk's date
# "2021-12-02" is stored as "p:2021", "p:2021-12", "p:2021-12-02" (the periods it lies
# in) and "e:2021-12-02" (what it says exactly); a question's "2021-12" then matches
# "p:2021-12" (a date within that month) or "e:2021" (a chunk that only says "2021").
def period_terms(date_: str) -> set[str]:
    """The terms stored for a date a chunk has (its article's or one it mentions)."""
    return {f"p:{prefix}" for prefix in {date_[:4], date_[:7], date_}} | {f"e:{date_}"}


def matching_terms(dates: list[str]) -> list[str]:
    """The terms of which a chunk must hold one to match any of the question's ``dates``."""
    terms = set()
    for d in dates:
        terms.add(f"p:{d}")
        terms.update(f"e:{p}" for p in (d[:4], d[:7]) if len(p) < len(d))
    return sorted(terms)


def date_number(iso: str, upper: bool = False) -> int:
    """An ISO date prefix as a number that sorts like the string: "2021" -> 20210000,
    "2021-12" -> 20211200, "2021-12-02" -> 20211202. ``upper`` fills the missing parts
    with 99, for "on or before the end of that period". 0 for a string that is not one."""
    parts = iso.split("-")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return 0
    fill = 99 if upper else 0
    year, month, day = (int(parts[i]) if i < len(parts) else fill for i in range(3))
    return year * 10000 + month * 100 + day


def _resolve(day: int, month: int, pub: date) -> str | None:
    # Next year first: "ngày 5/1 tới" in a late-December article is early January.
    for year in (pub.year + 1, pub.year, pub.year - 1):
        iso = _iso(year, month, day)
        if iso and date.fromisoformat(iso) <= pub + timedelta(days=31):
            return iso
    return None


def _iso(year: int, month: int, day: int | None) -> str | None:
    try:
        return date(year, month, day).isoformat() if day else f"{year}-{month:02d}"
    except ValueError:
        return None


def _as_date(iso: str | None) -> date | None:
    try:
        return date.fromisoformat(iso) if iso and len(iso) == 10 else None
    except ValueError:
        return None
