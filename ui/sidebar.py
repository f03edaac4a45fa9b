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
from rag.read import MODES, NEEDS_LLM
from rag.read.llm import backend_problem, configured_llm, default_model
from rag.store import Filters, StoreError

log = logging.getLogger("ui")

# The date pickers default to the last ten years; news archives go back further.
EARLIEST = dt.date(1945, 1, 1)
LATEST = dt.date(2100, 12, 31)
LEXICAL_MODES = ("Auto", "Off", "Manual")

# The answer modes (rag.read.MODES) in a reader's words.
MODE_LABELS = {
    "extractive": "Quote the articles",
    "translate": "Quote and translate into English",
    "generate": "LLM writes the answer",
}
# Shown when no LLM can run here: what the other modes are, and the one step that enables them.
ENABLE_LLM = ("To translate answers into English, or have an LLM write them, install the local model: run `make llm`. "
              "An OpenAI-compatible server can be named below.")


@dataclass
class Settings:
    k: int
    filters: Filters | None
    lexical_weight: float | None  # None: the retriever sets it per question
    llm: str | None = None  # an LLM spec (rag.read.llm), set when the mode needs one
    mode: str = "extractive"  # rag.read.MODES

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
        parts.append(self.describe_mode())
        return " · ".join(parts)

    def describe_mode(self) -> str:
        if self.mode == "translate":
            return f"quotes translated by {self.llm}"
        if self.mode == "generate":
            return f"answer written by {self.llm}"
        return "quoted from the articles"


def sidebar(rag: RAG) -> Settings:
    with st.sidebar:
        index_status(rag)
        settings = search_settings(rag)
        settings.mode, settings.llm = answer_settings()
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


def answer_settings() -> tuple[str, str | None]:
    """The answer mode and, for a mode that needs one, the LLM. A mode that needs an LLM
    is offered only when one can run here; otherwise one line says how to enable it."""
    st.subheader("Answers")
    llms = runnable_llms()
    modes = MODES if llms else ("extractive",)
    if st.session_state.get("answer_mode") not in modes:
        st.session_state.answer_mode = "extractive"  # its LLM has gone (a typed spec cleared)
    if llms:
        mode = st.radio("Answer by", modes, format_func=MODE_LABELS.__getitem__, key="answer_mode",
                        help="Quotes are the articles' own sentences. A translation or an LLM's answer is checked "
                             "against the passages it cites, and a sentence that fails a check is marked.")
    else:
        mode = "extractive"
        st.caption(ENABLE_LLM)
    llm = choose_llm(llms) if mode in NEEDS_LLM else None
    typed_llm_input()
    return mode, llm


def runnable_llms() -> list[str]:
    """The LLMs that can run here, in order: the one RAG_LLM names, the local model
    `make llm` installs, one typed into the sidebar."""
    local = default_model()
    candidates = [configured_llm(), f"llamacpp:{local}" if local.is_file() else None, typed_llm()]
    runnable: list[str] = []
    for spec in candidates:
        if spec and spec not in runnable and backend_problem(spec) is None:
            runnable.append(spec)
    return runnable


def typed_llm() -> str | None:
    # Read from the session before the widget is drawn (below the mode), so that a spec
    # typed in makes its modes available in the same run.
    return (st.session_state.get("llm_spec") or "").strip() or None


def choose_llm(llms: list[str]) -> str:
    if st.session_state.get("llm_choice") not in llms:
        st.session_state.llm_choice = llms[0]
    return st.selectbox("LLM", llms, key="llm_choice")


def typed_llm_input() -> None:
    """A field for another LLM (an OpenAI-compatible server), and why an LLM named
    cannot run, if one cannot."""
    with st.expander("Another LLM", icon=":material/dns:"):
        st.text_input("LLM", key="llm_spec", placeholder="openai:http://127.0.0.1:8080/v1#model or llamacpp:/path/model.gguf",
                      label_visibility="collapsed")
    # A configured or typed LLM that cannot run is left out of the choices above; say why,
    # with the fix, rather than let it vanish.
    for spec in dict.fromkeys(filter(None, (configured_llm(), typed_llm()))):
        if problem := backend_problem(spec):
            st.caption(f":material/warning: {problem}")


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
