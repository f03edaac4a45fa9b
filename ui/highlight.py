"""HTML for answers, passages and articles, with the supporting sentences marked.

Pure functions (no Streamlit), so the escaping can be read and checked on its own.
Everything that comes from an article or a question is HTML-escaped here: news text
contains "<", "&" and, once in a while, markup that survived the capture.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape

_CITATION_MARKER = re.compile(r"\[(\d+)\]")

Span = tuple[int, int]


def merge_spans(spans: Iterable[Span], length: int) -> list[Span]:
    """Spans clipped to ``[0, length]``, sorted, overlapping ones merged. Quote spans of
    one passage can touch or overlap (two chosen sentences), and an article that was
    re-uploaded since the answer may be shorter than the offsets assume."""
    clipped = sorted((max(0, s), min(length, e)) for s, e in spans if min(length, e) > max(0, s))
    merged: list[Span] = []
    for start, end in clipped:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mark_spans(text: str, spans: Iterable[Span], css_class: str | None = None) -> str:
    """``text`` escaped, with each span wrapped in ``<mark>``."""
    attribute = f' class="{css_class}"' if css_class else ""
    parts: list[str] = []
    position = 0
    for start, end in merge_spans(spans, len(text)):
        parts.append(escape(text[position:start]))
        parts.append(f"<mark{attribute}>{escape(text[start:end])}</mark>")
        position = end
    parts.append(escape(text[position:]))
    return "".join(parts)


def answer_html(text: str) -> str:
    """The answer escaped, its ``[n]`` markers styled so they read as references."""
    return _CITATION_MARKER.sub(r'<span class="qa-ref">[\1]</span>', escape(text))


def answer_body_html(answer) -> str:
    """The answer as its reader wrote it: quotes, translations beside their originals, or
    an LLM's sentences with their checks."""
    if answer.mode == "translate" and any(s.original for s in answer.sentences):
        return translated_answer_html(answer.sentences)
    if answer.mode == "generate":
        return generated_answer_html(answer.sentences)
    return answer_html(answer.answer)


def translated_answer_html(sentences) -> str:
    """Each sentence in English with its [n], the Vietnamese it translates in a muted line
    under it. A translation that failed its check was replaced by the original: that is
    shown once, with what the check found."""
    parts = []
    for s in sentences:
        if s.flags:
            note = f"Translation check: {'; '.join(s.flags)}; showing the original"
            extra = f'<div class="qa-flag">⚠ {escape(note)}</div>'
        elif s.original and s.original != s.text:
            extra = f'<div class="qa-original" lang="vi">{escape(s.original)}</div>'
        else:
            extra = ""
        parts.append(f'<div class="qa-sentence">{answer_html(s.cited())}{extra}</div>')
    return "".join(parts)


def generated_answer_html(sentences) -> str:
    """An LLM's answer sentence by sentence; a sentence no passage supports is marked and
    says, in plain words, what its check found."""
    parts = []
    for s in sentences:
        body = answer_html(s.cited())
        if not s.supported:
            found = "; ".join(s.flags) or "no passage supports it"
            body = (f'<span class="qa-unsupported" title="{escape(found)}">⚠ {body}</span> '
                    f'<span class="qa-flag">(Check: {escape(found)})</span>')
        parts.append(body)
    return " ".join(parts)


def meta_line(date: str | None, source: str | None, doc_id: str) -> str:
    parts = [date or "undated", source or "source unknown", doc_id]
    return " · ".join(escape(p) for p in parts)


def card_html(
    label: str, title: str, date: str | None, source: str | None, doc_id: str, chunk_id: str, passage: str | None,
    spans: Iterable[Span] = (), caption: bool = False,
) -> str:
    """One citation or passage card; without ``passage``, its head only (the passage is
    then behind an expander). ``data-*`` attributes name the article and chunk so an
    operator (or the browser test) can tell which passage a card shows. A photo
    caption says so in the head."""
    tag = '<span class="qa-caption">photo caption</span> ' if caption else ""
    return (
        f'<div class="qa-card" data-doc-id="{escape(doc_id)}" data-chunk-id="{escape(chunk_id)}">'
        f'<div class="qa-card-head"><span class="qa-card-label">{escape(label)}</span> {tag}{escape(title)}</div>'
        f'<div class="qa-meta">{meta_line(date, source, doc_id)}</div>'
        f"{passage_html(passage, spans) if passage is not None else ''}"
        "</div>"
    )


def passage_html(passage: str, spans: Iterable[Span]) -> str:
    return f'<div class="qa-passage">{mark_spans(passage, spans)}</div>'


def locate_passage(article_text: str, passage: str, start: int, end: int) -> Span | None:
    """Where ``passage`` is in the article: at its recorded offsets, or (if the article was
    replaced by a new upload since) wherever the same text now is; None if it is gone."""
    if article_text[start:end] == passage:
        return start, end
    found = article_text.find(passage)
    return (found, found + len(passage)) if found >= 0 else None


def article_html(article_text: str, passage: Span | None, quote_spans: Iterable[Span] = ()) -> str:
    """The whole cleaned article, the passage outlined and its quoted sentences marked.
    ``quote_spans`` are relative to the passage, as in ``Citation.quote_spans``."""
    if passage is None:
        return f'<div class="qa-article">{escape(article_text)}</div>'
    start, end = passage
    return (
        '<div class="qa-article">'
        f"{escape(article_text[:start])}"
        f'<span class="qa-in-article">{mark_spans(article_text[start:end], quote_spans)}</span>'
        f"{escape(article_text[end:])}"
        "</div>"
    )


# One stylesheet for the whole app. Marks get a dark text colour so they stay readable
# under the dark theme too.
CSS = """
<style>
.qa-answer { font-size: 1.02rem; line-height: 1.65; }
.qa-ref { font-weight: 600; color: #2f6fdb; white-space: nowrap; }
.qa-unsupported { background: #fdecea; border-bottom: 2px dotted #c62828; }
.qa-sentence { margin-bottom: .55rem; }
.qa-original { font-size: .9rem; opacity: .65; font-style: italic; }
.qa-flag { font-size: .85rem; color: #b3261e; }
.qa-question { white-space: pre-wrap; }
.qa-card-head { font-weight: 600; line-height: 1.4; }
.qa-card-label { color: #2f6fdb; margin-right: .25rem; }
.qa-caption { font-size: .78rem; font-weight: 500; background: #eef2f7; border-radius: 3px; padding: 0 .3em; }
.qa-meta { font-size: .82rem; opacity: .7; margin: .15rem 0 .45rem 0; }
.qa-passage { line-height: 1.6; }
.qa-passage mark, .qa-article mark { background: #ffe58a; color: #1f2328; padding: 0 .1em; border-radius: 2px; }
.qa-article { white-space: pre-wrap; line-height: 1.65; }
.qa-in-article { background: rgba(255, 214, 90, .22); outline: 1px dashed #d4a72c; }
</style>
"""
