"""Opening the index once per process, building it (with progress) when it is missing,
and the app's one way of reporting errors.

The index location (``RAG_INDEX_DIR``, and ``RAG_STORE`` for the engine) is read from the
environment at run time, not from ``rag.pipeline.DEFAULT_INDEX_DIR``: that constant is
fixed when ``rag.pipeline`` is first imported, and tests (or an operator) point the app
at another index after that.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import streamlit as st

from rag.load import LoadError
from rag.pipeline import RAG
from rag.read import load_chat_model
from rag.store import DEFAULT_STORE, StoreError, index_exists

log = logging.getLogger("ui")

P = ParamSpec("P")
R = TypeVar("R")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record, not the one at
    set-up: test runners swap stderr per test and close the old one."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging() -> None:
    """Send the app's and the library's log records to stderr, where the operator looks.
    Not through the root logger: Streamlit configures its own loggers, and a root
    handler would print theirs twice."""
    for name in ("ui", "rag"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False


def index_dir() -> Path:
    return Path(os.environ.get("RAG_INDEX_DIR", "index"))


def store_setting() -> str:
    return os.environ.get("RAG_STORE") or DEFAULT_STORE


def seeds_dir() -> Path:
    return Path(os.environ.get("RAG_SEEDS_DIR", "seeds"))


@st.cache_resource(show_spinner=False)
def index_lock(directory: str) -> threading.RLock:
    """One lock per index, shared by all sessions: two first visitors must not both
    build a missing index. (Reads and writes need no lock here: the store has its own.)"""
    return threading.RLock()


@st.cache_resource(show_spinner="Loading the embedding model and the index…")
def _cached_rag(directory: str, store: str, _built: RAG | None = None) -> RAG:
    """The process-wide RAG for ``directory``. ``_built`` (not part of the cache key) hands
    in an index that was just built, so it is not loaded a second time. It never needs
    reloading: the store picks up every committed change, this process's or another's."""
    if _built is not None:
        return _built
    log.info("opening the index at %s (store %s)", directory, store)
    return RAG.open(directory, seeds=None, store=store)


@st.cache_resource(show_spinner="Loading the language model…")
def chat_model(spec: str):
    """One chat model per spec, shared by every session (a model is loaded once per process)."""
    return load_chat_model(spec)


def get_rag() -> RAG | None:
    """The RAG for the configured index, or None after showing why there is none."""
    directory, store = index_dir(), store_setting()
    try:
        if not index_exists(directory, store):
            with index_lock(str(directory)):
                # Another session may have built it while this one waited for the lock.
                if not index_exists(directory, store):
                    return _build_with_progress(directory, store)
        return _cached_rag(str(directory), store)
    except (StoreError, LoadError) as exc:
        log.warning("cannot open the index at %s: %s", directory, exc)
        st.error(f"The index cannot be opened: {exc}")
    except Exception:
        log.exception("opening the index at %s failed", directory)
        st.error("The index could not be opened because of an internal error; the details are in the server log.")
    return None


def _build_with_progress(directory: Path, store: str) -> RAG:
    seeds = seeds_dir()
    with st.status(f"No index yet: building it from {seeds}/ …", expanded=True) as status:
        st.write("Loading the embedding model…")
        bar = st.progress(0.0)
        rag = RAG.open(directory, seeds=seeds, progress=progress_bar_callback(bar), store=store)
        stats = rag.stats()
        built = f"Index built: {stats['articles']} articles, {stats['chunks']} passages"
        status.update(label=built, state="complete", expanded=False)
    return _cached_rag(str(directory), store, _built=rag)


def progress_bar_callback(bar) -> Callable[[str, int, int], None]:
    """Adapt the library's ``(stage, done, total)`` progress calls to an ``st.progress``."""

    def update(stage: str, done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{stage.capitalize()}: {done}/{total}")

    return update


def guarded(what: str) -> Callable[[Callable[P, R]], Callable[P, R | None]]:
    """Last line of defence for a page: an unexpected exception is logged with its
    traceback for the operator and shown to the user as one short line."""

    def decorate(function: Callable[P, R]) -> Callable[P, R | None]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
            try:
                return function(*args, **kwargs)
            except Exception:  # st.rerun/st.stop are BaseExceptions and pass through
                log.exception("%s failed", what)
                st.error(f"Something went wrong while {what}; the details are in the server log.")
                return None

        return wrapper

    return decorate
