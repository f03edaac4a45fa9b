"""The chat page's sidebar: index status, filters and retrieval settings (read at each
question, so a change applies to the next one), adding and removing articles."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import streamlit as st
from loader import progress_bar_callback

from rag.load import MAX_FILE_BYTES, SUPPORTED_SUFFIXES, LoadError
from rag.pipeline import RAG
from rag.read.llm import DEFAULT_MODEL, configured_llm
from rag.store import Filters, StoreError

log = logging.getLogger("ui")

# The date pickers default to the last ten years; news archives go back further.
EARLIEST = dt.date(1945, 1, 1)
LATEST = dt.date(2100, 12, 31)
LEXICAL_MODES = ("Auto", "Off", "Manual")


EXTRACTIVE = "Extractive: quote the articles (offline)"


@dataclass
class Settings:
    k: int
    filters: Filters | None
    lexical_weight: float | None  # None: the retriever sets it per question
    llm: str | None = None  # an LLM spec (rag.generate), or None for extractive answers

    def describe(self) -> str:
        """One line under an answer, so an answer can be read with what shaped it."""
        parts = []
        f = self.filters
        if f and (f.date_from or f.date_to):
            parts.append(f"dates {f.date_from or '…'} to {f.date_to or '…'}")
        if f and f.doc_ids:
            parts.append(f"{len(f.doc_ids)} article(s)")
        if f and f.sources:
            parts.append("sources " + ", ".join(sorted(f.sources)))
        parts.append(f"k={self.k}")
        parts.append("keyword weight " + ("auto" if self.lexical_weight is None else f"{self.lexical_weight:.2f}"))
        parts.append(f"answer by {self.llm}" if self.llm else "extractive answer")
        return " · ".join(parts)


def sidebar(rag: RAG) -> Settings:
    with st.sidebar:
        index_status(rag)
        settings = search_settings(rag)
        settings.llm = answer_settings()
        manage_articles(rag)
        if st.button("Clear the chat", icon=":material/delete_sweep:", key="clear_chat"):
            st.session_state.messages = []
            st.rerun()
    return settings


def index_status(rag: RAG) -> None:
    stats = rag.stats()
    built = dt.datetime.fromtimestamp(stats["updated_at"]).strftime("%Y-%m-%d %H:%M")
    st.subheader("Index")
    left, right = st.columns(2)
    left.metric("Articles", stats["articles"])
    right.metric("Passages", stats["chunks"])
    st.caption(f"Embedder `{stats['embedder']}` · updated {built}")


def search_settings(rag: RAG) -> Settings:
    st.subheader("Search")
    articles = {a.doc_id: a for a in rag.articles()}
    date_from = st.date_input("Published from", value=None, min_value=EARLIEST, max_value=LATEST, key="date_from", format="YYYY-MM-DD")
    date_to = st.date_input("Published until", value=None, min_value=EARLIEST, max_value=LATEST, key="date_to", format="YYYY-MM-DD")
    if date_from or date_to:
        st.caption("Undated articles are left out while a date is set.")
    if date_from and date_to and date_from > date_to:
        st.warning("The start date is after the end date: no article can match.")
    # A selection can name an article that has since been removed; a multiselect
    # whose state holds a value outside its options fails, so drop those first.
    _keep_known("doc_filter", set(articles))
    doc_ids = st.multiselect(
        "Articles", options=sorted(articles), key="doc_filter", placeholder="All articles",
        format_func=lambda d: f"{articles[d].title[:70]} ({articles[d].date or 'undated'})" if d in articles else d,
    )
    sources = sorted(rag.stats()["sources"])
    _keep_known("source_filter", set(sources))
    chosen_sources = st.multiselect("Sources", options=sources, key="source_filter", placeholder="All sources")

    with st.expander("Retrieval settings", icon=":material/tune:"):
        k = st.slider("Passages to look at (k)", 1, 10, 5, key="k")
        mode = st.radio(
            "Keyword matching (BM25)", LEXICAL_MODES, horizontal=True, key="lexical_mode",
            help="Auto weighs keywords by how many of the question's words occur in the articles: "
                 "full weight for Vietnamese questions, less for English ones.",
        )
        weight = None
        if mode == "Off":
            weight = 0.0
        elif mode == "Manual":
            weight = st.slider("Keyword weight", 0.0, 1.0, 0.5, 0.05, key="lexical_weight")

    filters = Filters(
        doc_ids=set(doc_ids) or None,
        sources=set(chosen_sources) or None,
        date_from=date_from.isoformat() if date_from else None,
        date_to=date_to.isoformat() if date_to else None,
    )
    active = filters.doc_ids or filters.sources or filters.date_from or filters.date_to
    return Settings(k=k, filters=filters if active else None, lexical_weight=weight)


def answer_settings() -> str | None:
    """Extractive answers, or an LLM: the one RAG_LLM names, the local model `make llm`
    installs if present, or any spec typed in."""
    choices = [EXTRACTIVE]
    for spec in (configured_llm(), f"llamacpp:{DEFAULT_MODEL}" if DEFAULT_MODEL.is_file() else None):
        if spec and spec not in choices:
            choices.append(spec)
    choices.append("Other…")
    st.subheader("Answers")
    choice = st.selectbox("Written by", choices, key="llm_choice",
                          help="An LLM answers in the question's language; its citations are checked against the passages.")
    if choice == "Other…":
        spec = st.text_input("LLM", key="llm_spec", placeholder="openai:http://127.0.0.1:8080/v1#model or llamacpp:/path/model.gguf")
        return spec.strip() or None
    return None if choice == EXTRACTIVE else choice


def _keep_known(key: str, known: set[str]) -> None:
    if key in st.session_state:
        st.session_state[key] = [v for v in st.session_state[key] if v in known]


def manage_articles(rag: RAG) -> None:
    st.subheader("Articles")
    with st.form("upload", clear_on_submit=True, border=False):
        files = st.file_uploader(
            "Add articles", type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES], accept_multiple_files=True, key="upload_files",
            max_upload_size=MAX_FILE_BYTES // 2**20,  # the library's own limit, so the widget tells it up front
            help="Plain text, Markdown, HTML, JSONL (one article per line) or PDF. Articles are cleaned, split into "
                 "passages and searchable at once.",
        )
        submitted = st.form_submit_button("Add to the index", icon=":material/upload:")
    if submitted and files:
        _add_uploads(rag, files)

    articles = {a.doc_id: a for a in rag.articles()}
    if st.session_state.get("remove_choice") not in articles:
        st.session_state.remove_choice = None  # the article it named is gone
    doc_id = st.selectbox(
        "Remove an article", options=sorted(articles), index=None, key="remove_choice", placeholder="Choose an article",
        format_func=lambda d: f"{articles[d].title[:70]} ({d})" if d in articles else d,
    )
    if st.button("Remove from the index", icon=":material/delete:", disabled=doc_id is None, key="remove_button"):
        _remove(rag, doc_id)

    for kind, message in st.session_state.get("article_notices", []):
        getattr(st, kind)(message)


def _add_uploads(rag: RAG, files: list) -> None:
    notices: list[tuple[str, str]] = []
    bar = st.progress(0.0, text="Reading the files…")
    for uploaded in files:
        try:
            result = rag.add_upload(uploaded.name, uploaded.getvalue(), progress_bar_callback(bar))
        except (LoadError, StoreError) as exc:
            # The library's message names the file and says what to do; the index is unchanged.
            notices.append(("error", f"Not added: {exc}"))
        except Exception:
            log.exception("adding the upload %s failed", uploaded.name)
            notices.append(("error", f"Not added: {uploaded.name}: an internal error occurred; the details are in the server log."))
        else:
            if result.added:
                notices.append(("success", f"Added {', '.join(result.added)} from {uploaded.name}; it is searchable now."))
            if result.replaced:
                notices.append(("warning", f"Replaced {', '.join(result.replaced)} with the version in {uploaded.name}."))
            if result.unchanged:
                notices.append(("info", f"Already in the index, unchanged: {', '.join(result.unchanged)}."))
    bar.empty()
    _finish(notices)


def _remove(rag: RAG, doc_id: str) -> None:
    try:
        removed = rag.remove([doc_id])
    except Exception:
        log.exception("removing %s failed", doc_id)
        notices = [("error", f"{doc_id} could not be removed because of an internal error; the details are in the server log.")]
    else:
        notices = [("success", f"Removed {doc_id}.")] if removed else [("info", f"{doc_id} was not in the index.")]
    _finish(notices)


def _finish(notices: list[tuple[str, str]]) -> None:
    """Keep the outcome for the next run and rerun, so that the status, the filters and
    the lists above show the index as it is now."""
    st.session_state.article_notices = notices
    st.rerun()
