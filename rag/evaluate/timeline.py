"""Figures for timeline and comparison questions (rag.read.timeline).

A question of the file may carry ``periods``: the gold article(s) of each period or
counterpart, in the order the answer should give them::

    "periods": [{"date": "2021", "gold_docs": ["2984af66f89cc659"]},
                {"date": "2024", "gold_docs": ["2fda3e61c4dbe223"]}]
    "periods": [{"entity": "japan", "gold_docs": [...]}, {"entity": "russia", "gold_docs": [...]}]

``"date": null`` is an undated article's period; ``"gold_docs": []`` a period no
article covers, which the answer must name and say so of, citing nothing.

- period coverage: share of gold periods (with gold docs) whose answer period cites one
  of their gold docs; ``all_periods_cited``: share of questions where every one does.
- order correct: share of questions whose answer gives the gold periods in gold order,
  and its dated periods in date order.
- wrong-period points: points cited from an article dated outside their period, or
  from a gold article of another period and not of their own. The goal is zero.
- empty periods said: share of gold periods without an article that the answer lists
  with no point (and a note).
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.dates import dates_match
from rag.evaluate import metrics as m
from rag.text import fold


def check_periods(value: object, where: str) -> list[dict]:
    """The ``periods`` of a question record, validated; ValueError saying what is wrong."""
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: \"periods\" must be a non-empty list of objects")
    for period in value:
        if not isinstance(period, dict) or ("date" in period) == ("entity" in period):
            raise ValueError(f"{where}: each period needs either \"date\" (YYYY, YYYY-MM-DD or null) or \"entity\"")
        label = period.get("date", period.get("entity"))
        if label is not None and not isinstance(label, str):
            raise ValueError(f"{where}: a period's \"date\" or \"entity\" must be a string")
        if "entity" in period and not label:
            raise ValueError(f"{where}: a period's \"entity\" must be a non-empty string")
        gold = period.get("gold_docs")
        if not isinstance(gold, list) or not all(isinstance(d, str) for d in gold):
            raise ValueError(f"{where}: a period's \"gold_docs\" must be a list of strings ([] for a period no article covers)")
    return value


def _groups(answer) -> list[tuple[str | None, str, list[str]]]:
    """(date or None, entity, cited doc ids) per period or counterpart of the answer."""
    docs = {c.n: c.doc_id for c in answer.citations}

    def cited(points) -> list[str]:
        return [docs[n] for p in points for n in p.citations if n in docs]

    if getattr(answer, "timeline", None):
        return [(p.date, "", cited(p.points)) for p in answer.timeline]
    if getattr(answer, "comparison", None):
        return [(None, s.entity, cited(s.points)) for s in answer.comparison]
    return []


def _matches(gold: dict, date: str | None, entity: str) -> bool:
    if "entity" in gold:
        key = fold(gold["entity"])
        return bool(entity) and (fold(entity) == key or key in fold(entity) or fold(entity) in key
                                 or _same_country(key, fold(entity)))
    if gold["date"] is None:
        return date is None and not entity
    return date is not None and dates_match(gold["date"], date)


def _same_country(key: str, name: str) -> bool:
    from rag.glossary import GLOSSARY

    return any(fold(v) == name for v in GLOSSARY.get(key, ()))


def period_row(periods: Sequence[dict], answer, dates: dict[str, str | None]) -> dict:
    """The per-question counts; ``dates``: doc id -> article date."""
    groups = _groups(answer)
    covered = gold_n = empty_n = empty_said = wrong = 0
    positions = []
    for gold in periods:
        found = [i for i, (date, entity, _) in enumerate(groups) if _matches(gold, date, entity)]
        cited = [d for i in found for d in groups[i][2]]
        positions.append(found[0] if found else None)
        if gold["gold_docs"]:
            gold_n += 1
            covered += any(d in gold["gold_docs"] for d in cited)
        else:
            empty_n += 1
            empty_said += bool(found) and not cited
    for date, entity, cited in groups:
        own = [g for g in periods if _matches(g, date, entity)]
        mine = {d for g in own for d in g["gold_docs"]}
        theirs = {d for g in periods if g not in own for d in g["gold_docs"]} - mine
        for doc in cited:
            outside = date is not None and dates.get(doc) is not None and not dates_match(date, dates[doc])
            wrong += outside or doc in theirs
    dated = [date for date, entity, _ in groups if date is not None]
    placed = [p for p in positions if p is not None]
    order = placed == sorted(placed) and dated == sorted(dated)
    return {"gold_periods": gold_n, "covered_periods": covered, "empty_periods": empty_n, "empty_said": empty_said,
            "wrong_period_points": wrong, "order_correct": order, "answer_periods": [g[0] or g[1] or None for g in groups]}


def timeline_summary(rows: Sequence[dict]) -> dict:
    rows = [r for r in rows if r.get("periods")]
    gold = sum(r["periods"]["gold_periods"] for r in rows)
    empty = sum(r["periods"]["empty_periods"] for r in rows)
    return {
        "period_coverage": m.ratio(sum(r["periods"]["covered_periods"] for r in rows), gold),
        "all_periods_cited": m.ratio(sum(r["periods"]["covered_periods"] == r["periods"]["gold_periods"] for r in rows), len(rows)),
        "order_correct": m.ratio(sum(r["periods"]["order_correct"] for r in rows), len(rows)),
        "wrong_period_points": sum(r["periods"]["wrong_period_points"] for r in rows),
        "empty_periods_said": m.ratio(sum(r["periods"]["empty_said"] for r in rows), empty),
        "n": len(rows),
        "n_periods": gold + empty,
    }
