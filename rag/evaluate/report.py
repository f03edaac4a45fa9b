"""Reports: one folder per run, ``<report_dir>/<timestamp>/``, with ``metrics.json``
(the object ``rag eval --json`` prints), ``report.md``, a self-contained ``report.html``
(plots inlined) and the plots as PNG files. ``<report_dir>/latest`` points to the newest
run: a relative symlink, or, where symlinks cannot be made, a text file holding the
folder name; ``latest_report`` resolves either, so the UI never cares which.

metrics.json (both kinds of run; ``meta.kind`` is "questions" or "xquad")::

    configs.<config>.overall / .by_lang.<lang>   R@1 R@3 R@5 R@10 MRR nDCG@10 n
    answers.overall / .by_lang.<lang>            questions: accuracy abstention_precision abstention_recall
                                                 citation_precision citation_coverage language_match translations_kept
                                                 wrong_year_citations (a count) wrong_year_rate
                                                 whole_sentence_quotes n n_year_citations ...
                                                 xquad: exact_match f1 answer_in_sentence abstention_rate
                                                 abstention_precision abstention_recall (near-misses) ...
    latency_ms                                   retrieval_p50 retrieval_p95 answer_p50 answer_p95
    questions[]                                  id question lang unanswerable gold_docs
                                                 first_relevant_rank.<config> correct abstained answer
                                                 citations[chunk_id] citation_relevant[] citation_dates[]
                                                 wrong_year_citations whole_sentence_quotes
                                                 retrieved[{rank doc_id chunk_id title score text relevant}]
                                                 retrieval_ms answer_ms
    meta                                         configs default_config index created_at warnings report ...

A figure with nothing to divide by (abstention precision when nothing was abstained) is
null. For an unanswerable question ``correct`` means the system abstained; for XQuAD it
means the gold answer is in the answer sentence and ``first_relevant_rank`` is the rank
of the gold paragraph among the retrieved documents; ``abstained_without_paragraph`` is
whether the question, asked again with its paragraph filtered out, was declined.

Plots are drawn on ``matplotlib.figure.Figure`` (the Agg canvas), never through pyplot,
so writing a report from the UI's threads touches no global backend state.
"""

from __future__ import annotations

import base64
import html
import json
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

LATEST = "latest"
# One short line per figure (shares unless said), for the reports' legend and the
# evaluation page; short enough to read whole in the page's "meaning" column.
METRIC_HELP: dict[str, str] = {
    "R@k": "answerable questions with a relevant passage in the first k",
    "MRR": "mean 1 / rank of the first relevant passage (0 if none)",
    "nDCG@10": "order of the first 10 passages: relevant ones high scores more",
    "accuracy": "answerable questions answered with every expected fact",
    "abstention_precision": "declined questions that truly have no answer (XQuAD: asked without their paragraph)",
    "abstention_recall": "questions with no answer that were declined (XQuAD: asked without their paragraph)",
    "citation_precision": "citations (answerable questions) to a relevant passage",
    "citation_coverage": "correct answers with at least one relevant citation",
    "unsupported_rate": "answer sentences no passage supports (generated answers)",
    "language_match": "answers in the question's language (vi-nodiac: Vietnamese)",
    "translations_kept": "translated sentences that kept every number, date and name",
    "wrong_year_citations": "citations of an article from a year not asked; goal 0",
    "wrong_year_rate": "wrong-year citations / citations of answers to year questions",
    "whole_sentence_quotes": "quoted pieces that are whole sentences of the article",
    "exact_match": "XQuAD: answer sentence equals the gold answer (normalised)",
    "f1": "XQuAD: token F1 of the answer sentence with the gold answer",
    "answer_in_sentence": "XQuAD: the gold answer occurs in the answer sentence",
    "abstention_rate": "XQuAD: share of (answerable) questions declined",
    "n": "questions counted",
    "n_answerable": "questions the articles answer",
    "n_unanswerable": "questions the articles do not answer: declining is right",
    "n_year_questions": "answered questions that name a year",
    "n_year_citations": "citations of those answers",
    "latency": "ms per question, median (p50) and p95; rag.search, rag.ask",
    # Timeline and comparison questions (rag.evaluate.timeline).
    "period_coverage": "gold periods or counterparts whose answer part cites their gold article",
    "all_periods_cited": "timeline questions with every gold period cited",
    "order_correct": "timeline questions with periods in gold and date order",
    "wrong_period_points": "points cited from an article of another period; goal 0",
    "empty_periods_said": "periods with no article that the answer says have none",
    "n_periods": "gold periods and counterparts of those questions",
}
PLOTS = {"recall": "recall_at_k.png", "langs": "by_language.png", "latency": "latency.png"}


# ---------------------------------------------------------------- writing
def write_report(metrics: dict, report_dir: str | Path = "reports") -> Path:
    """Write every file of a report for ``metrics`` and point ``latest`` at it.
    Records the folder in ``metrics["meta"]["report"]`` (so --json names it too)."""
    report_dir = Path(report_dir)
    target = _new_run_dir(report_dir)
    metrics.setdefault("meta", {})["report"] = str(target)
    (target / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=1), "utf-8")
    plots = [name for key, name in PLOTS.items() if _PLOTTERS[key](metrics, target / name)]
    (target / "report.md").write_text(render_markdown(metrics, plots), "utf-8")
    (target / "report.html").write_text(render_html(metrics, target, plots), "utf-8")
    _point_latest(report_dir, target)
    return target


def latest_report(report_dir: str | Path = "reports") -> Path | None:
    """The newest report folder: ``latest`` (symlink or text file), else the newest
    folder holding a metrics.json; None when there is no report."""
    report_dir = Path(report_dir)
    link = report_dir / LATEST
    if link.is_symlink() or link.is_dir():
        target = link.resolve()
        if (target / "metrics.json").exists():
            return target
    elif link.is_file():
        target = report_dir / link.read_text("utf-8").strip()
        if target.name and (target / "metrics.json").exists():
            return target.resolve()
    if not report_dir.is_dir():
        return None
    runs = sorted(p for p in report_dir.iterdir() if p.name != LATEST and p.is_dir() and (p / "metrics.json").exists())
    return runs[-1].resolve() if runs else None


def _new_run_dir(report_dir: Path) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        target = report_dir / (stamp if n == 1 else f"{stamp}-{n:02d}")
        try:
            target.mkdir()
            return target
        except FileExistsError:
            continue
    raise OSError(f"{report_dir}: cannot create a report folder for {stamp}")


def _point_latest(report_dir: Path, target: Path) -> None:
    temporary = report_dir / f".{LATEST}-{uuid.uuid4().hex[:6]}"
    try:
        os.symlink(target.name, temporary, target_is_directory=True)
    except (OSError, NotImplementedError):
        temporary.write_text(target.name + "\n", "utf-8")
    os.replace(temporary, report_dir / LATEST)


# ------------------------------------------------------------------ tables
def fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(headers)] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        return fmt(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def metric_help(key: str) -> str | None:
    """The one-line explanation of a figure ("R@5" is explained as R@k)."""
    return METRIC_HELP.get("R@k" if key.startswith("R@") else key)


def legend(metrics: dict) -> list[tuple[str, str]]:
    """(figure, explanation) for the figures of this report, in table order."""
    keys: list[str] = []
    for config in (metrics.get("configs") or {}).values():
        keys += ["R@k" if k.startswith("R@") else k for k in config.get("overall", {})]
    keys += list((metrics.get("answers") or {}).get("overall", {}))
    keys += list((metrics.get("timeline") or {}).get("overall", {}))
    keys += ["latency"] if metrics.get("latency_ms") else []
    return [(k, METRIC_HELP[k]) for k in dict.fromkeys(keys) if k in METRIC_HELP]


def summary_tables(metrics: dict) -> list[tuple[str, list[str], list[list[object]]]]:
    """(title, headers, rows) of the summary tables: retrieval per configuration and
    language, answers (one row per figure, one column per language: the answer figures
    outnumber the languages), latency."""
    tables = []
    configs = metrics.get("configs", {})
    if configs:
        keys = [k for k in next(iter(configs.values()))["overall"]]
        rows = [[name] + [c["overall"].get(k) for k in keys] for name, c in configs.items()]
        tables.append(("Retrieval", ["config"] + keys, rows))
        rows = [[f"{name} / {lang}"] + [s.get(k) for k in keys] for name, c in configs.items() for lang, s in c["by_lang"].items()]
        tables.append(("Retrieval by question language", ["config / lang"] + keys, rows))
    answers = metrics.get("answers") or {}
    if answers:
        columns = {"all": answers["overall"], **answers["by_lang"]}
        rows = [[key] + [c.get(key) for c in columns.values()] for key in answers["overall"]]
        tables.append((f"Answers ({metrics.get('meta', {}).get('default_config', 'hybrid')}, rag.ask)", ["figure", *columns], rows))
    timeline = metrics.get("timeline") or {}
    if timeline:
        columns = {"all": timeline["overall"], **timeline["by_lang"]}
        rows = [[key] + [c.get(key) for c in columns.values()] for key in timeline["overall"]]
        tables.append(("Timeline and comparison questions (rag.ask)", ["figure", *columns], rows))
    latency = metrics.get("latency_ms") or {}
    if latency:
        tables.append(("Latency (ms)", list(latency), [list(latency.values())]))
    return tables


def format_text(metrics: dict) -> str:
    """The summary as plain-text tables, for the terminal."""
    return "\n\n".join(f"{title}\n{_text_table(headers, rows)}" for title, headers, rows in summary_tables(metrics))


def _question_rows(metrics: dict) -> tuple[list[str], list[list[object]]]:
    default = metrics.get("meta", {}).get("default_config", "hybrid")
    headers = ["id", "lang", "question", f"first relevant rank ({default})", "correct", "abstained", "citations", "wrong-year citations"]
    rows = []
    for q in metrics.get("questions", []):
        marks = q.get("citation_relevant") or [None] * len(q.get("citations", []))
        citations = " ".join(f"{c}{' ✓' if ok else ''}" for c, ok in zip(q.get("citations", []), marks, strict=False))
        rank = (q.get("first_relevant_rank") or {}).get(default)
        rows.append([q["id"], q["lang"], q["question"], rank, q.get("correct"), q.get("abstained"), citations,
                     q.get("wrong_year_citations")])
    return headers, rows


def _heading(metrics: dict) -> tuple[str, str]:
    meta = metrics.get("meta", {})
    index = meta.get("index", {})
    kind = "XQuAD" if meta.get("kind") == "xquad" else "Question set"
    source = ", ".join(meta.get("queries", [])) + " queries" if meta.get("kind") == "xquad" else meta.get("questions_path", "")
    title = f"Evaluation: {kind} ({source}), {meta.get('created_at', '')}"
    about = (
        f"{meta.get('n_questions', 0)} questions; index: {index.get('articles')} articles, {index.get('chunks')} chunks, "
        f"embedder {index.get('embedder')}; configurations: {', '.join(meta.get('configs', []))}; "
        f"answers ({meta.get('reader', 'extractive')}) and per-question ranks use {meta.get('default_config', 'hybrid')}; "
        f"took {meta.get('duration_s')} s."
    )
    return title, about


def render_markdown(metrics: dict, plots: Sequence[str] = ()) -> str:
    title, about = _heading(metrics)
    parts = [f"# {title}", about]
    for table_title, headers, rows in summary_tables(metrics):
        parts += [f"## {table_title}", _md_table(headers, rows)]
    explained = legend(metrics)
    if explained:
        parts += ["## What the figures mean", "\n".join(f"- **{key}**: {text}" for key, text in explained)]
    parts += [f"![{name}]({name})" for name in plots]
    warnings = metrics.get("meta", {}).get("warnings") or []
    if warnings:
        parts += ["## Warnings", "\n".join(f"- {w}" for w in warnings)]
    headers, rows = _question_rows(metrics)
    parts += ["## Per question", "✓ marks a relevant citation.", _md_table(headers, rows)]
    return "\n\n".join(parts) + "\n"


def render_html(metrics: dict, folder: Path, plots: Sequence[str] = ()) -> str:
    title, about = _heading(metrics)
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(about)}</p>"]
    for table_title, headers, rows in summary_tables(metrics):
        body += [f"<h2>{html.escape(table_title)}</h2>", _html_table(headers, rows)]
    explained = legend(metrics)
    if explained:
        items = "".join(f"<dt>{html.escape(key)}</dt><dd>{html.escape(text)}</dd>" for key, text in explained)
        body += ["<h2>What the figures mean</h2>", f"<dl>{items}</dl>"]
    for name in plots:
        data = base64.b64encode((folder / name).read_bytes()).decode()
        body.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{name}</figcaption></figure>')
    warnings = metrics.get("meta", {}).get("warnings") or []
    if warnings:
        body += ["<h2>Warnings</h2><ul>", *(f"<li>{html.escape(w)}</li>" for w in warnings), "</ul>"]
    headers, rows = _question_rows(metrics)
    body += ["<h2>Per question</h2><p>✓ marks a relevant citation.</p>", _html_table(headers, rows)]
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.25em .5em;font-size:.9em;vertical-align:top}th{background:#f3f3f3}"
        "img{max-width:48em}dt{font-weight:600}dd{margin:0 0 .3em 1.5em}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


# ------------------------------------------------------------------- plots
def _plot_recall(metrics: dict, path: Path) -> bool:
    configs = metrics.get("configs") or {}
    if not configs:
        return False
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ks: set[int] = set()
    for name, c in configs.items():
        points = sorted((int(k[2:]), v) for k, v in c["overall"].items() if k.startswith("R@") and v is not None)
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
            ks.update(p[0] for p in points)
    ax.set_xticks(sorted(ks))
    ax.set(xlabel="k (passages)", ylabel="recall@k", ylim=(0, 1.02), title="Recall@k per configuration")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def _plot_langs(metrics: dict, path: Path) -> bool:
    default = metrics.get("meta", {}).get("default_config", "hybrid")
    retrieval = (metrics.get("configs") or {}).get(default, {}).get("by_lang", {})
    answers = (metrics.get("answers") or {}).get("by_lang", {})
    answer_key = "accuracy" if metrics.get("meta", {}).get("kind") != "xquad" else "answer_in_sentence"
    langs = sorted(set(retrieval) | set(answers))
    if not langs:
        return False
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    width = 0.38
    xs = range(len(langs))
    ax.bar([x - width / 2 for x in xs], [retrieval.get(lang, {}).get("R@5") or 0 for lang in langs], width, label=f"R@5 ({default})")
    ax.bar([x + width / 2 for x in xs], [answers.get(lang, {}).get(answer_key) or 0 for lang in langs], width, label=answer_key)
    ax.set_xticks(list(xs), langs)
    ax.set(ylim=(0, 1.18), title="By question language")
    ax.legend(loc="upper center", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def _plot_latency(metrics: dict, path: Path) -> bool:
    rows = metrics.get("questions") or []
    retrieval = [q["retrieval_ms"] for q in rows if q.get("retrieval_ms") is not None]
    answer = [q["answer_ms"] for q in rows if q.get("answer_ms") is not None]
    if not retrieval and not answer:
        return False
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for values, label in ((retrieval, "retrieval (rag.search)"), (answer, "answer (rag.ask)")):
        if values:
            ax.hist(values, bins=30, alpha=0.6, label=label)
    ax.set(xlabel="ms", ylabel="questions", title="Latency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


_PLOTTERS = {"recall": _plot_recall, "langs": _plot_langs, "latency": _plot_latency}
