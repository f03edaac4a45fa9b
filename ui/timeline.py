"""Timeline and comparison answers (rag.read.timeline): a vertical timeline, dates on
the left and the cited points with their cards on the right, or one column per
counterpart. Streamlit stacks columns under 640 px, so on a phone each date sits above
its points and the counterparts follow one another."""

from __future__ import annotations

from html import escape

import streamlit as st
from cards import render_card
from highlight import answer_html

from rag.pipeline import RAG
from rag.read import Answer

CSS = """<style>
.qa-tl-date { font-weight: 700; font-size: 1.05rem; color: #2f6fdb; white-space: nowrap; }
.qa-tl-title { color: #666; font-size: .85rem; line-height: 1.35; margin-top: .2rem; }
.qa-tl-point { margin: 0 0 .45rem 0; }
.qa-tl-original { color: #777; font-size: .85rem; margin: -.3rem 0 .5rem 0; }
.qa-tl-empty { color: #8a6d00; font-style: italic; }
.qa-tl-entity { font-weight: 700; font-size: 1.05rem; margin-bottom: .3rem; }
.qa-change { border-left: 3px solid #2f6fdb; padding: .2rem .7rem; margin: .6rem 0; }
[class*="st-key-tl-points-"] { border-left: 3px solid #d6e2f7; padding-left: .9rem; }
</style>"""


def has_structure(answer: Answer) -> bool:
    return bool(answer.timeline or answer.comparison)


def render_structure(rag: RAG, answer: Answer, key: str) -> None:
    st.html(CSS)
    cited = {c.n: c for c in answer.citations}
    if answer.timeline:
        for i, period in enumerate(answer.timeline):
            left, right = st.columns([1, 4], gap="small")
            date = period.date or "undated"
            title = f'<div class="qa-tl-title">{escape(period.title)}</div>' if period.title else ""
            left.html(f'<div class="qa-tl-date" data-date="{escape(period.date or "")}">{escape(date)}</div>{title}')
            with right.container(key=f"tl-points-{key}-{i}"):
                _points(rag, period.points, period.note, cited, f"{key}-{i}", period.date or "")
    else:
        columns = st.columns(len(answer.comparison), gap="medium")
        for i, (column, side) in enumerate(zip(columns, answer.comparison, strict=True)):
            with column:
                st.html(f'<div class="qa-tl-entity" data-entity="{escape(side.entity)}">{escape(side.entity)}</div>')
                _points(rag, side.points, side.note, cited, f"{key}-{i}", side.entity)
    if answer.change:
        st.html(f'<div class="qa-change">{answer_html(answer.change)}</div>')
        st.caption("What changed: written by the LLM from the cited points above only.")


def _points(rag: RAG, points, note: str | None, cited: dict, key: str, label: str) -> None:
    if not points:
        st.html(f'<div class="qa-tl-empty">{escape(note or "")}</div>')
        return
    parts = []
    for p in points:
        parts.append(f'<div class="qa-tl-point">{answer_html(p.cited())}</div>')
        if p.original and p.original != p.text:
            parts.append(f'<div class="qa-tl-original">{escape(p.original)}</div>')
    st.html(f'<div class="qa-answer qa-tl-points" data-period="{escape(label)}">{"".join(parts)}</div>')
    for n in dict.fromkeys(n for p in points for n in p.citations):
        if n in cited:
            render_card(rag, cited[n], f"{key}-{n}", quoted=True)
