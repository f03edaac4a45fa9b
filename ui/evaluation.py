"""Evaluation page: the latest report (metrics, plots, every question with what was
retrieved for it) and a button that runs the test question set and writes a new one.

Reports and questions are found where the ``rag eval`` command puts and reads them,
relative to the working directory; ``RAG_REPORTS_DIR`` and ``RAG_QUESTIONS`` point the
page elsewhere (the tests use them to stay out of the project's reports/).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from highlight import CSS, answer_html
from loader import get_rag, guarded, index_dir, index_lock, progress_bar_callback

log = logging.getLogger("ui")

METRIC_COLUMNS = ["R@1", "R@3", "R@5", "R@10", "MRR", "nDCG@10", "n"]
QUESTION_COLUMNS = ["id", "lang", "question", "unanswerable", "first_relevant_rank", "correct", "abstained", "wrong_year_citations"]
ROW_PX = 35  # a row of st.dataframe, header included
# Shorter headers than the JSON keys, so the per-question table fits beside the sidebar at 1400 px.
QUESTION_HEADERS = {"unanswerable": "no answer", "abstained": "declined", "wrong_year_citations": "wrong year"}
QUESTION_HELP = {
    "no answer": "the articles do not answer it: the right response is to decline",
    "correct": "answerable: the answer holds every expected fact; unanswerable: the system declined",
    "declined": "the system abstained",
    "wrong year": "citations of an article from a year the question does not ask (blank: it names no year)",
}


def reports_root() -> Path:
    return Path(os.environ.get("RAG_REPORTS_DIR", "reports"))


def questions_path() -> Path:
    return Path(os.environ.get("RAG_QUESTIONS", "eval/questions.jsonl"))


@guarded("showing the evaluation")
def evaluation_page() -> None:
    st.html(CSS)
    st.title("Evaluation")
    try:
        from rag.evaluate.report import latest_report
    except ImportError as exc:
        log.warning("evaluation module unavailable: %s", exc)
        st.error(f"The evaluation module is not available in this installation ({exc}).")
        return
    run_section()
    report = latest_report(reports_root())
    if report is None:
        st.info(f"No evaluation report yet in {reports_root()}/. Run the test questions above to create one.")
        return
    render_report(report)


def run_section() -> None:
    from rag.evaluate.questions import CONFIGS, DEFAULT_CONFIG

    path = questions_path()
    count = _count_lines(path)
    with st.container(border=True):
        st.markdown("**Run the test question set**")
        if count:
            st.caption(f"{count} questions from {path}, asked against the index the chat uses (uploads included).")
        else:
            st.caption(f"No test questions at {path}.")
        configs = st.multiselect(
            "Retrieval configurations", options=list(CONFIGS), default=[DEFAULT_CONFIG], key="eval_configs",
            help="Each configuration is scored on retrieval; answers, latency and the per-question details come from the first.",
        )
        ready = bool(count and configs)
        if st.button("Run the test questions", type="primary", icon=":material/play_arrow:", disabled=not ready, key="run_eval"):
            run_evaluation(path, configs)


def run_evaluation(path: Path, configs: list[str]) -> None:
    from rag.evaluate.questions import evaluate_questions
    from rag.evaluate.report import write_report

    rag = get_rag()
    if rag is None:
        return
    bar = st.progress(0.0, text="Starting…")
    update = progress_bar_callback(bar)
    try:
        # Held for the whole run: an upload in the middle would change the index under it.
        with index_lock(str(index_dir())):
            metrics = evaluate_questions(rag, path, k=10, configs=configs, progress=lambda done, total: update("question", done, total))
        report = write_report(metrics, report_dir=reports_root())
    except (OSError, ValueError) as exc:
        # A malformed question file (QuestionFileError is a ValueError, its message names
        # the line) or an unwritable report folder.
        log.warning("evaluation failed: %s", exc)
        bar.empty()
        st.error(f"The evaluation could not run: {exc}")
        return
    bar.empty()
    st.success(f"New report written to {report}.")


def render_report(report: Path) -> None:
    from rag.evaluate.report import legend, metric_help

    try:
        metrics = json.loads((report / "metrics.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("unreadable report %s: %s", report, exc)
        st.error(f"The report at {report} cannot be read ({exc}).")
        return
    meta = metrics.get("meta", {})
    written = meta.get("created_at") or dt.datetime.fromtimestamp((report / "metrics.json").stat().st_mtime).isoformat(timespec="seconds")
    st.subheader(f"Latest report: {report.name}")
    details = [str(report), f"written {written}"]
    if meta.get("n_questions") is not None:
        details.append(f"{meta['n_questions']} questions ({meta.get('n_answerable', '?')} answerable)")
    if meta.get("duration_s") is not None:
        details.append(f"took {meta['duration_s']} s")
    st.caption(" · ".join(details))
    for warning in meta.get("warnings", []):
        st.warning(warning)

    st.markdown("**Retrieval** (answerable questions)")
    retrieval = retrieval_table(metrics.get("configs", {})).round(3)
    st.dataframe(retrieval, width="stretch", column_config=retrieval_columns(retrieval))
    st.markdown("**Answers**", help="One row per figure, one column per question language; the last column says what the figure means.")
    answers = answer_table(metrics.get("answers", {}))
    # Tall enough for every figure: a scrolled table hides the figures below the tenth.
    st.dataframe(answers, width="stretch", height=ROW_PX * (len(answers) + 1) + 3, column_config=answer_columns(answers))
    latency = metrics.get("latency_ms", {})
    if latency:
        st.markdown("**Latency**")
        for column, (name, value) in zip(st.columns(len(latency)), latency.items()):
            column.metric(name.replace("_", " "), "–" if value is None else f"{value:.0f} ms", help=metric_help("latency"))
    with st.expander("What the figures mean"):
        st.markdown("\n".join(f"- **{key}**: {text}" for key, text in legend(metrics)))

    plots = sorted(report.glob("*.png"))
    if plots:
        st.markdown("**Plots**")
        columns = st.columns(2)
        for i, plot in enumerate(plots):
            columns[i % 2].image(str(plot), caption=plot.stem.replace("_", " "))

    questions = metrics.get("questions", [])
    if questions:
        render_questions(questions)
    markdown = report / "report.md"
    if markdown.exists():
        with st.expander("The whole report (Markdown)"):
            st.markdown(markdown.read_text("utf-8"))


def retrieval_table(configs: dict[str, Any]) -> pd.DataFrame:
    """One row per configuration and language: overall first, then each language."""
    rows = []
    for name, result in configs.items():
        rows.append({"config": name, "lang": "all", **result.get("overall", {})})
        rows += [{"config": name, "lang": lang, **values} for lang, values in result.get("by_lang", {}).items()]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    ordered = [c for c in ["config", "lang", *METRIC_COLUMNS] if c in table.columns]
    return table[ordered + [c for c in table.columns if c not in ordered]].set_index(["config", "lang"])


def retrieval_columns(table: pd.DataFrame) -> dict[str, Any]:
    """Narrow numeric columns, each with its one-line meaning as the header's tooltip."""
    from rag.evaluate.report import metric_help

    return {name: st.column_config.NumberColumn(name, help=metric_help(name) or "answerable questions", width="small")
            for name in table.columns}


def answer_table(answers: dict[str, Any]) -> pd.DataFrame:
    """Transposed: one row per figure and one column per language (overall first), then
    what the figure means. A dozen figures would not fit as columns; five languages do.
    Values are text, so a count reads "13" and a share "0.897" in the same column."""
    from rag.evaluate.report import fmt, metric_help

    columns = {"all": answers.get("overall", {}), **answers.get("by_lang", {})}
    figures = list(dict.fromkeys(key for values in columns.values() for key in values))
    rows = [{"figure": key, **{lang: fmt(values.get(key)) for lang, values in columns.items()}, "meaning": metric_help(key) or ""}
            for key in figures]
    return pd.DataFrame(rows, columns=["figure", *columns, "meaning"]).set_index("figure")


def answer_columns(table: pd.DataFrame) -> dict[str, Any]:
    """Narrow value columns (one per language), the meaning takes the room left."""
    config: dict[str, Any] = {lang: st.column_config.TextColumn(lang, width="small", help="every question" if lang == "all" else None)
                              for lang in table.columns if lang != "meaning"}
    config["meaning"] = st.column_config.TextColumn("meaning", width="large")
    config["_index"] = st.column_config.TextColumn("figure", width="medium")  # "whole_sentence_quotes" whole
    return config


def question_table(questions: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per question. ``first_relevant_rank`` is one number per configuration;
    it becomes one column each ("rank hybrid", "rank dense", …)."""
    rows = []
    for q in questions:
        row = {QUESTION_HEADERS.get(c, c): q.get(c) for c in QUESTION_COLUMNS if c != "first_relevant_rank"}
        ranks = q.get("first_relevant_rank")
        if isinstance(ranks, dict):
            row.update({f"rank {name}": rank for name, rank in ranks.items()})
        else:
            row["first relevant rank"] = ranks
        rows.append(row)
    return pd.DataFrame(rows)


def question_columns(table: pd.DataFrame) -> dict[str, Any]:
    """The question text takes the room; every other column is narrow, with a tooltip."""
    config: dict[str, Any] = {name: st.column_config.Column(name, width="small", help=QUESTION_HELP.get(name))
                              for name in table.columns if name != "question"}
    config.update({name: st.column_config.NumberColumn(name, width="small", help=f"rank of the first relevant passage ({name[5:]})")
                   for name in table.columns if name.startswith("rank ")})
    config["question"] = st.column_config.TextColumn("question", width="large")
    return config


def render_questions(questions: list[dict[str, Any]]) -> None:
    st.markdown("**Questions**")
    table = question_table(questions)
    st.dataframe(table, hide_index=True, width="stretch", column_config=question_columns(table))
    by_id = {str(q.get("id")): q for q in questions}
    chosen = st.selectbox(
        "Inspect a question", options=list(by_id), index=None, key="inspect_question", placeholder="Choose a question",
        format_func=lambda i: f"{i}: {by_id[i].get('question', '')}",
    )
    if chosen is not None:
        render_question_detail(by_id[chosen])


def render_question_detail(question: dict[str, Any]) -> None:
    """What the system did with one question: its answer, then every retrieved passage,
    relevant ones flagged, so a miss can be traced to retrieval or to answering."""
    verdict = "abstained" if question.get("abstained") else ("correct" if question.get("correct") else "not correct")
    ranks = question.get("first_relevant_rank")
    if isinstance(ranks, dict):
        ranks = ", ".join(f"{name} {rank or '—'}" for name, rank in ranks.items())
    st.markdown(f"**{escape(str(question.get('question', '')))}**")
    st.caption(
        f"language {question.get('lang')} · {'unanswerable' if question.get('unanswerable') else 'answerable'} · "
        f"first relevant rank: {ranks or '—'} · answer {verdict}"
    )
    st.html(f'<div class="qa-answer">{answer_html(str(question.get("answer", "")))}</div>')
    cited = set(question.get("citations", []))
    for hit in question.get("retrieved", []):
        flags = ["relevant" if hit.get("relevant") else "not relevant"] + (["cited"] if hit.get("chunk_id") in cited else [])
        doc_id, chunk_id = str(hit.get("doc_id")), str(hit.get("chunk_id"))
        with st.container(border=True):
            st.html(
                f'<div class="qa-card" data-doc-id="{escape(doc_id)}" data-chunk-id="{escape(chunk_id)}">'
                f'<div class="qa-card-head"><span class="qa-card-label">#{hit.get("rank")}</span> '
                f'{escape(str(hit.get("title") or doc_id))}</div>'
                f'<div class="qa-meta">{escape(chunk_id)} · score {float(hit.get("score") or 0):.3f} · {escape(", ".join(flags))}</div>'
                f'<div class="qa-passage">{escape(str(hit.get("text", "")))}</div></div>'
            )


def _count_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text("utf-8").splitlines() if line.strip())
    except OSError:
        return 0


evaluation_page()
