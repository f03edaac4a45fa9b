"""Cards for cited passages and for the closest passages of an abstention, each with
the whole article one click away."""

from __future__ import annotations

import streamlit as st
from highlight import Span, article_html, card_html, locate_passage, passage_html

from rag.pipeline import RAG
from rag.read import Citation
from rag.retrieve import Hit


def render_card(rag: RAG, citation: Citation, key: str, quoted: bool) -> None:
    """A cited passage: [n], title, date, source, and the passage with the quoted
    sentences marked. When the answer already shows the quotes (``quoted``), the passage
    waits behind an expander, so a quote is read once, in the answer."""
    with st.container(border=True, key=f"card-{key}"):
        passage = None if quoted else citation.text
        st.html(card_html(f"[{citation.n}]", citation.title, citation.date, citation.source, citation.doc_id,
                          citation.chunk_id, passage, citation.quote_spans, citation.caption))
        if quoted:
            render_passage_expander(citation, key)
        render_article_expander(rag, citation.doc_id, citation.text, citation.start, citation.end, citation.quote_spans, key)


def render_passage_expander(citation: Citation, key: str) -> None:
    """The passage around the quote, on request. Lazy like the article: until it is
    opened, the quote is on the page once."""
    expander = st.expander("Show the passage", icon=":material/format_quote:", key=f"quote-{key}", on_change="rerun")
    if expander.open:
        with expander:
            st.html(passage_html(citation.text, citation.quote_spans))


def render_passage(rag: RAG, hit: Hit, key: str) -> None:
    """A passage that was looked at but not used as evidence: nothing in it is marked."""
    chunk = hit.chunk
    with st.container(border=True, key=f"passage-{key}"):
        st.html(card_html(f"#{hit.rank}", chunk.title, chunk.date, chunk.source, chunk.doc_id, chunk.chunk_id, chunk.text, [],
                          chunk.caption))
        render_article_expander(rag, chunk.doc_id, chunk.text, chunk.start, chunk.end, [], key)


def render_article_expander(rag: RAG, doc_id: str, passage: str, start: int, end: int, quote_spans: list[Span], key: str) -> None:
    """The whole cleaned article with the passage in place. The expander reruns on
    opening and only then renders the article: a long chat would otherwise send every
    cited article to the browser on every rerun."""
    expander = st.expander("Read the whole article", icon=":material/article:", key=f"article-{key}", on_change="rerun")
    if not expander.open:
        return
    with expander:
        article = rag.article(doc_id)
        if article is None:
            st.info("This article has been removed from the index since this answer.")
            return
        text = article.text
        located = locate_passage(text, passage, start, end)
        if located is None:
            st.info("This article has changed since this answer; the passage is no longer in it.")
        st.html(article_html(text, located, quote_spans))
