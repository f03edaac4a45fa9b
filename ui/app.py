"""Chat over Vietnamese news: answers with cited passages, filters, uploads.

Run with ``streamlit run ui/app.py``. This file is the entry point: it sets up the
pages and holds the chat page. All retrieval and answering is ``rag.pipeline.RAG``'s;
this file only decides what to show.
"""

from __future__ import annotations

import logging
import uuid
from html import escape

import streamlit as st
from cards import render_card, render_passage
from highlight import CSS, answer_body_html
from loader import chat_model, get_rag, guarded, index_dir, index_lock, setup_logging
from sidebar import Settings, sidebar
from timeline import has_structure, render_structure

from rag.pipeline import MAX_QUESTION_CHARS, RAG, QuestionError, check_question
from rag.read import Answer
from rag.store import StoreError

log = logging.getLogger("ui")

# Shown on an empty chat: both languages, and Vietnamese typed without diacritics,
# which is how many people type it.
EXAMPLES = (
    "What did Vietnam and Russia agree in 2021?",
    "Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?",
    "co bao nhieu luu hoc sinh viet nam tai nhat ban",
    "Who did General Phan Van Giang hold talks with in August 2024?",
)
CLOSEST_LABEL = "Closest passages (not used as evidence)"


@guarded("showing the chat")
def chat_page() -> None:
    st.html(CSS)
    st.title("Ask the news")
    st.caption("Questions in English or Vietnamese, answered from Vietnamese news articles with the passages quoted.")
    rag = get_rag()
    if rag is None:
        return
    settings = sidebar(rag)
    messages: list[dict] = st.session_state.setdefault("messages", [])

    # The chat input is read before anything is drawn below it, so that a question
    # typed into an empty chat replaces the examples in the same run.
    typed = st.chat_input("Ask about the articles…", max_chars=MAX_QUESTION_CHARS, key="chat_input")
    question = typed if typed is not None else st.session_state.pop("example_question", None)

    render_history(rag, messages)
    if question is not None:
        handle_question(rag, question, settings, messages)
    elif not messages:
        render_examples()


def render_examples() -> None:
    st.write("Try one of these:")
    columns = st.columns(2)
    for i, example in enumerate(EXAMPLES):
        columns[i % 2].button(example, key=f"example-{i}", on_click=_choose_example, args=(example,), width="stretch")


def _choose_example(example: str) -> None:
    st.session_state.example_question = example


def render_history(rag: RAG, messages: list[dict]) -> None:
    for message in messages:
        if message["role"] == "user":
            render_question(message["text"])
        else:
            with st.chat_message("assistant"):
                render_answer(rag, message["answer"], message["asked"], message["settings"], message["id"])


def render_question(text: str) -> None:
    with st.chat_message("user"):
        st.html(f'<div class="qa-question">{escape(text)}</div>')


def handle_question(rag: RAG, question: str, settings: Settings, messages: list[dict]) -> None:
    try:
        question = check_question(question)
    except QuestionError as exc:
        st.error(str(exc))
        return
    # Earlier questions let the library complete a follow-up ("What about 2024?").
    history = [m["text"] for m in messages if m["role"] == "user"]
    render_question(question)
    with st.chat_message("assistant"):
        answer = ask(rag, question, settings, history)
        if answer is None:
            return
        message = {"role": "assistant", "answer": answer, "asked": question, "settings": settings.describe(), "id": uuid.uuid4().hex[:8]}
        render_answer(rag, answer, question, message["settings"], message["id"])
    messages += [{"role": "user", "text": question}, message]


def ask(rag: RAG, question: str, settings: Settings, history: list[str]) -> Answer | None:
    """The library's answer, or None after showing why there is none. An LLM's answer
    is shown token by token as it is written, then replaced by the checked answer."""
    streamed = st.empty()
    tokens: list[str] = []

    def show(token: str) -> None:
        tokens.append(token)
        streamed.markdown("".join(tokens) + " ▌")

    try:
        model = chat_model(settings.llm) if settings.llm else None
        with st.spinner("Searching the articles…"), index_lock(str(index_dir())):
            answer = rag.ask(
                question, k=settings.k, filters=settings.filters, history=history, lexical_weight=settings.lexical_weight,
                mode=settings.mode, chat_model=model, llm_spec=settings.llm or "", on_token=show if model else None,
            )
        streamed.empty()
        return answer
    except (QuestionError, StoreError, ValueError, ImportError) as exc:
        # ValueError/ImportError: an LLM spec that names no model, or `make llm` not run.
        st.error(str(exc) if not isinstance(exc, ImportError) else f"{exc.name} is not installed; run `make llm`.")
    except Exception:
        log.exception("answering %r failed", question)
        st.error("The question could not be answered because of an internal error; the details are in the server log.")
    return None


def render_answer(rag: RAG, answer: Answer, asked: str, settings: str, key: str) -> None:
    if answer.abstained:
        # Said plainly, then why, then what was looked at, so the user can judge the abstention.
        st.warning(answer.answer, icon=":material/search_off:")
        render_note(answer)
        if answer.passages:
            st.caption(CLOSEST_LABEL)
            for hit in answer.passages:
                render_passage(rag, hit, f"{key}-{hit.rank}")
    else:
        render_note(answer)
        if answer.evidence_language == "vi":
            st.caption(":material/translate: The quoted evidence is in Vietnamese.")
        if has_structure(answer):
            render_structure(rag, answer, key)  # a timeline or comparison: periods or counterparts, each with its cards
        else:
            st.html(f'<div class="qa-answer">{answer_body_html(answer)}</div>')
        if answer.mode in ("translate", "generate"):
            st.caption(reader_line(answer))
        # Quotes and translations show the articles' sentences in the answer; an LLM's own
        # words do not, so its cards show the passages open.
        quoted = answer.mode != "generate"
        for citation in [] if has_structure(answer) else answer.citations:
            render_card(rag, citation, f"{key}-{citation.n}", quoted)
    if answer.question != asked:
        # The library completed a follow-up with the previous question's names or dates.
        st.caption(f"Read as: {answer.question}")
    st.caption(settings)


def render_note(answer: Answer) -> None:
    """The library's note: why it abstained, or that the date filters leave out the
    period asked about. Beside the answer, not in it."""
    if answer.note:
        st.info(answer.note, icon=":material/info:")


def reader_line(answer: Answer) -> str:
    """Who wrote an answer that is not plain quotes, from ``Answer.reader``:
    "translate (llamacpp:…)" or "generate (…)"."""
    spec = answer.reader.partition(" ")[2]
    by = f" by {spec.strip('()')}" if spec else ""
    if answer.mode == "translate":
        return f"Quotes translated{by}; each translation was checked against its original for numbers, dates and names."
    return f"Written{by}; each sentence was checked against the passage it cites."


def main() -> None:
    setup_logging()
    st.set_page_config(page_title="Ask the news", page_icon=":material/newspaper:", layout="wide")
    # Errors are caught and shown as one line; this keeps a traceback off the page
    # even for one that slips past them. The log has the details.
    st.set_option("client.showErrorDetails", "none")
    page = st.navigation(
        [
            st.Page(chat_page, title="Chat", icon=":material/chat:", default=True),
            st.Page("evaluation.py", title="Evaluation", icon=":material/monitoring:"),
        ]
    )
    page.run()


main()
