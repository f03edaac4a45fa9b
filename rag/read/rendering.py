"""An English question rendered in Vietnamese by the LLM, for the evidence gate.

Without an LLM the gate judges an English question by its cosine to the Vietnamese
sentences alone (term coverage through the glossary is too loose to use). With one,
the question is translated once (about 1 s with the local 1.5B model, cached), and the
gate judges the rendering as it judges a Vietnamese question: cosine and term coverage,
with the Vietnamese thresholds. A rendering that lost a number or a date of the
question is not used: it would be judging another question.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from rag.dates import query_dates
from rag.embed import Embedder
from rag.read import facts
from rag.read.llm import translate
from rag.retrieve import QueryAnalysis, Retriever

# Renderings kept per process: a repeated question (a page reload, an evaluation rerun)
# costs no LLM call. Keyed by the model object and the question.
CACHE_SIZE = 1024
_cache: OrderedDict[tuple[int, str], str | None] = OrderedDict()


@dataclass
class Rendering:
    text: str
    analysis: QueryAnalysis
    vector: np.ndarray


def render(chat_model, retriever: Retriever, embedder: Embedder, question: str, analysis: QueryAnalysis) -> Rendering | None:
    """The Vietnamese rendering of an English ``question``; None for other languages,
    and for a rendering that lost a number or date of the question."""
    if chat_model is None or analysis.language != "en":
        return None
    key = (id(chat_model), question)
    if key not in _cache:
        _cache[key] = translate(chat_model, question, "English", "Vietnamese")
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    _cache.move_to_end(key)
    text = _cache[key]
    if not text or not facts.numbers(question) <= facts.numbers(text) or set(query_dates(question)) - set(query_dates(text)):
        return None
    return Rendering(text, retriever.analyse(text), embedder.embed_queries([text])[0])
