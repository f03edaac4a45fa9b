"""Readers: from a question and its retrieved passages to an ``Answer`` with citations.

Three answer modes, one protocol. All of them ask the same evidence gate first
(``rag.read.gate``: abstain, or which sentences may be used) and build citations the
same way (``rag.read.cite``):

- ``extractive`` (the offline default): quotes the best sentences whole;
- ``translate`` (needs an LLM): the extractive quotes, translated into the question's
  language, each translation checked for its numbers, dates and names;
- ``generate`` (needs an LLM): the LLM writes the answer, and each sentence is checked
  against the passage sentence it cites.

With an LLM and no mode asked for, ``translate`` answers English questions (the
evidence is Vietnamese) and ``extractive`` the Vietnamese ones, which it quotes
exactly (``reader_for``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from rag.embed import Embedder
from rag.read.answer import ABSTAIN_MESSAGE, Answer, AnswerSentence, Citation
from rag.read.extractive import ExtractiveReader
from rag.read.generate import GenerateReader
from rag.read.llm import backend_problem, configured_llm, load_chat_model
from rag.read.select import CANDIDATE_PASSAGES
from rag.read.translate import TranslateReader
from rag.retrieve import Hit, QueryAnalysis
from rag.store import Store

MODES = ("extractive", "translate", "generate")
NEEDS_LLM = ("translate", "generate")

__all__ = [
    "ABSTAIN_MESSAGE", "CANDIDATE_PASSAGES", "MODES", "NEEDS_LLM", "Answer", "AnswerSentence", "Citation", "Reader",
    "backend_problem", "configured_llm", "load_chat_model", "make_reader", "reader_for",
]


class Reader(Protocol):
    name: str

    def answer(
        self, question: str, analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer: ...


def make_reader(mode: str, store: Store, embedder: Embedder, chat_model=None, spec: str = "") -> Reader:
    """The reader for ``mode``; ValueError when it needs an LLM and none is given."""
    if mode not in MODES:
        raise ValueError(f"unknown answer mode '{mode}'; use one of {', '.join(MODES)}")
    if mode in NEEDS_LLM and chat_model is None:
        raise ValueError(f"the {mode} mode needs an LLM: give --llm SPEC or set RAG_LLM (`make llm` installs one)")
    if mode == "translate":
        return TranslateReader(store, embedder, chat_model, spec)
    if mode == "generate":
        return GenerateReader(store, embedder, chat_model, spec)
    return ExtractiveReader(store, embedder)


def reader_for(mode: str | None, language: str, has_llm: bool) -> str:
    """The mode that answers a question in ``language`` when ``mode`` (None: the default)
    was asked for."""
    if mode:
        return mode
    return "translate" if has_llm and language == "en" else "extractive"
