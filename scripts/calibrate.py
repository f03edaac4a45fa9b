"""Fit the lexical weights on XQuAD's calibration half; measure them once on the report half.

    .venv/bin/python scripts/calibrate.py --xquad ../shared/benchmarks/xquad --json

``rag.retrieve.LEXICAL_WEIGHT`` holds, per question language, the lexical weight at
full coverage (``LEXICAL_WEIGHT_RENDERED`` for English searched with its LLM rendering,
swept with ``--llm``); with ``--llm --knob rendering`` it sweeps instead the weight of the
rendering next to the English question (``rag.query_translation.WEIGHT``, a doubtful
rendering keeping half of it). For each language this script sweeps it over ``--grid`` on the questions
of the calibration half (rag.evaluate.xquad.split_of), keeps the weight with the best
R@1 (ties: the best MRR, then the smaller weight), and then measures the report half
once, at the chosen weights and at the ones in the code, so that the reported figure
never comes from the half it was chosen on. Prints one JSON object.

What it does not fit, and why: XQuAD has no unanswerable questions and no dates, so the
abstention thresholds and the date boost cannot be fitted on it; the query-translation
weights (the rendering's own, rag.query_translation) would need a sweep per weight with the
LLM's renderings held fixed; with ``--llm``, the English side's lexical weight or the
rendering's weight is swept, one at a time, the other at the code's value.
"""

from __future__ import annotations

import argparse
import json
import sys

from rag import query_translation, retrieve
from rag.embed import DEFAULT_EMBEDDER, configured_spec
from rag.evaluate.xquad import DEFAULT_CACHE_DIR, cache_dir_for, evaluate_xquad, load_xquad, open_xquad_index, select_split

GRID = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def measure(rag, items, lang: str, knob: str, weight: float) -> dict:
    """R@1 and MRR of ``lang`` questions with ``knob`` set to ``weight``. The modules are
    the one place the retriever reads the weights from; the script sets the value for
    the run and restores it."""
    kept = current_weight(rag, lang, knob)
    set_weight(rag, lang, knob, weight)
    try:
        result = evaluate_xquad(rag, items, langs=(lang,), answers=False)
    finally:
        set_weight(rag, lang, knob, kept)
    overall = result["configs"]["hybrid"]["overall"]
    return {"R@1": overall["R@1"], "MRR": overall["MRR"], "n": overall["n"]}


def current_weight(rag, lang: str, knob: str) -> float:
    """``lexical``: ``LEXICAL_WEIGHT[lang]``, or ``LEXICAL_WEIGHT_RENDERED`` for English
    with an LLM; ``rendering``: the rendering's weight."""
    if knob == "rendering":
        return query_translation.WEIGHT
    rendered = rag.chat_model is not None and lang == "en"
    return retrieve.LEXICAL_WEIGHT_RENDERED if rendered else retrieve.LEXICAL_WEIGHT[lang]


def set_weight(rag, lang: str, knob: str, weight: float) -> None:
    if knob == "rendering":
        query_translation.WEIGHT = weight
    elif rag.chat_model is not None and lang == "en":
        retrieve.LEXICAL_WEIGHT_RENDERED = weight
    else:
        retrieve.LEXICAL_WEIGHT[lang] = weight


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--xquad", required=True, help="folder with xquad.vi.json and xquad.en.json")
    parser.add_argument("--queries", default="en,vi,vi-nodiac", help="languages to fit, comma-separated")
    parser.add_argument("--grid", default=",".join(map(str, GRID)), help="weights to try, comma-separated")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR))
    parser.add_argument("--llm", default="", help="sweep with query translation by this LLM (rag.read.llm spec); "
                        "renderings are cached, so each question is translated once for the whole sweep")
    parser.add_argument("--knob", choices=("lexical", "rendering"), default="lexical",
                        help="the weight to sweep: the lexical weight, or (with --llm) the rendering's weight")
    parser.add_argument("--json", action="store_true", help="print JSON only (progress goes to stderr)")
    args = parser.parse_args(argv)
    if args.knob == "rendering" and not args.llm:
        parser.error("--knob rendering needs --llm: without an LLM there is no rendering")
    grid = [float(w) for w in args.grid.split(",")]
    docs, items = load_xquad(args.xquad)
    rag = open_xquad_index(docs, cache_dir_for(args.cache_dir, configured_spec() or DEFAULT_EMBEDDER, args.xquad, None))
    if args.llm:
        rag.use_llm(args.llm)
    calibration, report = select_split(items, "calibration"), select_split(items, "report")
    out: dict = {"grid": grid, "llm": args.llm or None, "knob": args.knob, "languages": {}}
    for lang in args.queries.split(","):
        sweep = {}
        for weight in grid:
            sweep[weight] = measure(rag, calibration, lang, args.knob, weight)
            print(f"{lang} {weight}: calibration R@1 {sweep[weight]['R@1']}", file=sys.stderr)
        chosen = max(grid, key=lambda w: (sweep[w]["R@1"], sweep[w]["MRR"], -w))
        current = current_weight(rag, lang, args.knob)
        out["languages"][lang] = {
            "calibration": {str(w): r for w, r in sweep.items()},
            "chosen": chosen,
            "in_code": current,
            "report_at_chosen": measure(rag, report, lang, args.knob, chosen),
            "report_at_in_code": measure(rag, report, lang, args.knob, current),
        }
    rag.close()
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
