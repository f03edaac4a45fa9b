"""The whole system in one place: load -> clean -> chunk/embed/index -> retrieve -> answer.

``RAG`` is the one entry point that the CLI, the UI, the LangChain retriever and the
evaluation use::

    rag = RAG.open("index/")                 # builds from seeds/ if there is no index
    rag.search("hop tac quoc phong", k=5)    # list[Hit]
    rag.ask("What did Vietnam and Russia agree in 2021?")   # Answer with citations
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rag.clean import Article, clean
from rag.dates import date_number
from rag.embed import Embedder, canonical_spec, configured_spec, load_embedder
from rag.followup import contextualize, is_follow_up, rewrite_follow_up
from rag.index import prepare
from rag.load import LoadError, RawDocument, load_file, load_paths
from rag.query_translation import Rendering, render_question
from rag.read import CANDIDATE_PASSAGES, Answer, Reader, load_chat_model, make_reader, reader_for
from rag.read.timeline import TimelineReader, question_shape
from rag.retrieve import Hit, Retriever
from rag.store import (
    DEFAULT_STORE,
    ArticleInfo,
    Filters,
    IndexMismatchError,
    NoIndexError,
    Store,
    WriteReport,
    index_exists,
    open_store,
)
from rag.text import detect_language, nfc

log = logging.getLogger(__name__)

DEFAULT_INDEX_DIR = Path(os.environ.get("RAG_INDEX_DIR", "index"))
DEFAULT_SEEDS_DIR = Path(os.environ.get("RAG_SEEDS_DIR", "seeds"))
# Long enough for any real question, pasted context included; beyond it the query
# encoder truncates anyway and the user has probably pasted the wrong thing.
MAX_QUESTION_CHARS = 2000
# More passages than anyone reads; a larger k is a mistake, not a wish.
MAX_K = 100

Progress = Callable[[str, int, int], None]


class QuestionError(ValueError):
    pass


EMPTY_QUESTION = "The question is empty; type a question."
NO_WORDS_QUESTION = "Type your question in words; emoji and symbols alone cannot be searched."


@dataclass
class Plan:
    """What indexing a batch of raw documents takes (``RAG.plan``)."""

    todo: list[Article]  # new or changed: to embed and write
    present: list[Article]  # already stored with this content, or repeated in the batch: Store.write's ``present``
    remove: list[str]  # doc ids that a rebuild drops


def check_question(question: str) -> str:
    """The question, NFC-normalised (a question typed on macOS arrives decomposed, and
    the encoder reads NFD as other characters), or QuestionError."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError(EMPTY_QUESTION)
    # Emoji, punctuation or symbols alone: nothing the retriever can match, and "empty"
    # would tell someone who typed "🇻🇳❓" the wrong thing.
    if not any(ch.isalnum() for ch in question):
        raise QuestionError(NO_WORDS_QUESTION)
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
    return " ".join(nfc(question).split())


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QuestionError(f"k must be a whole number from 1 to {MAX_K} (got {k!r}).")
    return k


class RAG:
    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder
        self.retriever = Retriever(store, embedder)
        self.chat_model = None  # the LLM, when one is configured (use_llm)
        self.llm_spec = ""
        self.mode: str | None = None  # the answer mode (rag.read.MODES); None: chosen per question

    def use_llm(self, spec: str | None, mode: str | None = None) -> RAG:
        """Load the LLM that ``spec`` names (rag.read.llm; none when empty) and answer in
        ``mode``. ValueError, with what to do, when the LLM cannot run or the mode needs one."""
        self.chat_model = load_chat_model(spec) if spec else None
        self.llm_spec = spec or ""
        self.reader(mode or "extractive", "vi")  # refuses a mode that cannot run, now rather than at the first question
        self.mode = mode
        return self

    def reader(self, mode: str | None, language: str, chat_model=None, spec: str = "") -> Reader:
        """The reader that answers a question in ``language`` (rag.read.reader_for)."""
        chat_model = chat_model if chat_model is not None else self.chat_model
        spec = spec or self.llm_spec
        return make_reader(reader_for(mode, language, chat_model is not None), self.store, self.embedder, chat_model, spec)

    # ---------------------------------------------------------------- open
    @classmethod
    def open(
        cls,
        index_dir: str | Path = DEFAULT_INDEX_DIR,
        embedder: str | Embedder | None = None,
        seeds: str | Path | None = DEFAULT_SEEDS_DIR,
        progress: Progress | None = None,
        create: bool = False,
        store: str = DEFAULT_STORE,
    ) -> RAG:
        """The index at ``index_dir``, in ``store`` (rag.store.open_store). With none
        there: build it from ``seeds`` if given, else create an empty one if ``create``,
        else raise NoIndexError."""
        index_dir = Path(index_dir)
        exists = index_exists(index_dir, store)
        if not exists:
            if seeds is not None:
                if not Path(seeds).is_dir():
                    raise NoIndexError(f"no index at {index_dir}, and no {seeds}/ folder to build one from; run `rag index PATH...`")
                log.info("no index at %s; building it from %s", index_dir, seeds)
                rag = cls.open(index_dir, embedder, seeds=None, create=True, store=store)
                rag.add_paths([seeds], progress)
                return rag
            if not create:
                raise NoIndexError(f"no index at {index_dir}; build one with `rag index PATH...` (e.g. `rag index seeds/`)")
        instance = embedder if embedder is not None and not isinstance(embedder, str) else None
        wanted = instance.spec if instance else (embedder or configured_spec())
        wanted = canonical_spec(wanted) if wanted else wanted
        if exists:
            # The store says which embedder built it; only that one is loaded.
            opened = open_store(index_dir, wanted, None, store=store)
            instance = instance or load_embedder(opened.embedder_spec)
            if instance.dim != opened.dim:
                raise IndexMismatchError(
                    f"the index at {index_dir} holds {opened.dim}-d vectors but {instance.spec} makes {instance.dim}-d"
                )
        else:
            instance = instance or load_embedder(wanted)
            opened = open_store(index_dir, instance.spec, instance.dim, create=True, store=store)
        return cls(opened, instance)

    @classmethod
    def build(
        cls, paths: Iterable[str | Path], index_dir: str | Path = DEFAULT_INDEX_DIR, embedder: str | Embedder | None = None,
        progress: Progress | None = None, on_skip: Callable[[str], None] | None = None, store: str = DEFAULT_STORE,
    ) -> RAG:
        """The index at ``index_dir`` made to hold exactly the articles under ``paths``
        (created if missing), in one transaction: readers see the old or the new one."""
        rag = cls.open(index_dir, embedder, seeds=None, create=True, store=store)
        rag.add_paths(paths, progress, on_skip=on_skip, replace_all=True)
        return rag

    def close(self) -> None:
        self.store.close()

    # -------------------------------------------------------------- change
    def add_paths(
        self, paths: Iterable[str | Path], progress: Progress | None = None, on_skip: Callable[[str], None] | None = None,
        replace_all: bool = False,
    ) -> WriteReport:
        """Index the files and folders under ``paths``. In a folder, an unreadable file
        is skipped (``on_skip`` hears why); ``replace_all`` makes these articles the
        whole index, in one transaction."""
        return self.add_documents(load_paths(paths, on_skip), progress, replace_all=replace_all)

    def add_upload(self, name: str, data: bytes, progress: Progress | None = None) -> WriteReport:
        """An uploaded file: loaded from memory, added, saved. Raises LoadError with a
        message for the user; the index is unchanged on failure."""
        return self.add_documents(load_file(name, data), progress)

    def add_documents(self, raws: list[RawDocument], progress: Progress | None = None, replace_all: bool = False) -> WriteReport:
        """Clean, chunk, embed and write, in one transaction. Articles whose content is
        already stored are not embedded again."""
        plan = self.plan(raws, replace_all)
        prepared = prepare(plan.todo, self.embedder, progress)
        report = self.store.write(add=prepared, remove=plan.remove, present=plan.present)
        log.info("indexed %d new, %d replaced, %d unchanged, %d removed",
                 len(report.added), len(report.replaced), len(report.unchanged), len(report.removed))
        return report

    def plan(self, raws: list[RawDocument], replace_all: bool = False) -> Plan:
        """Clean ``raws`` and decide what writing them takes; nothing is embedded or
        written. Raises LoadError for input that must not be indexed (an article that
        cleaning empties, two articles with one id), before anything changes."""
        articles: dict[str, Article] = {}
        duplicates: list[Article] = []
        for raw in raws:
            article = clean(raw)
            if not article.text.strip():
                raise LoadError(f"{raw.path}: nothing left after cleaning; is this a news article?")
            known = articles.get(article.doc_id)
            if known and known.content_hash != article.content_hash:
                raise LoadError(f"{known.path} and {article.path} are different articles with the same id {article.doc_id}; fix one id")
            if known:
                duplicates.append(known)  # the same article twice in one batch (two files, or one twice)
            articles[article.doc_id] = article
        stored = self.store.hashes(articles)
        todo = [a for a in articles.values() if stored.get(a.doc_id) != a.content_hash]
        remove = [i.doc_id for i in self.store.articles() if i.doc_id not in articles] if replace_all else []
        # The articles not embedded again still go to the store: one of them may be a file
        # edited in place to the text of another, whose old version must then go.
        present = [a for a in articles.values() if stored.get(a.doc_id) == a.content_hash] + duplicates
        return Plan(todo, present, remove)

    def remove(self, doc_ids: Iterable[str]) -> list[str]:
        return self.store.write(remove=list(doc_ids)).removed

    # ---------------------------------------------------------------- read
    def search(self, query: str, k: int = 5, filters: Filters | None = None, **options) -> list[Hit]:
        query = check_question(query)
        rendering = self._rendering(query, self.chat_model)
        return _unless_filtered_out(self.retriever.search(query, k=check_k(k), filters=filters, rendering=rendering, **options), filters)

    @staticmethod
    def _rendering(question: str, chat_model) -> Rendering | None:
        """With an LLM, an English question's Vietnamese translation, which retrieval
        uses beside the question (rag.query_translation)."""
        if chat_model is None or detect_language(question) != "en":
            return None
        return render_question(chat_model, question)

    def ask(
        self,
        question: str,
        k: int = 5,
        filters: Filters | None = None,
        history: list[str] | None = None,
        on_token: Callable[[str], None] | None = None,
        mode: str | None = None,
        chat_model=None,
        llm_spec: str = "",
        **options,
    ) -> Answer:
        """Answer ``question``; ``history`` (earlier questions of the chat, oldest first)
        turns a follow-up such as "What about 2024?" into a standalone question;
        ``on_token`` receives the answer as it is generated. ``mode`` and ``chat_model``
        (with its ``llm_spec``) replace the RAG's own for this question (the UI's
        per-session choice)."""
        question = check_question(question)
        k = check_k(k)
        if chat_model is None:
            chat_model, llm_spec = self.chat_model, self.llm_spec
        mode = mode or self.mode
        if history and is_follow_up(question):
            question = rewrite_follow_up(chat_model, question, history) if chat_model else contextualize(question, history)
        shape = question_shape(question, chat_model)
        if shape is not None and mode in (None, "extractive", "translate"):
            # Timelines, changes between dates, comparisons: one retrieval per period or counterpart.
            return TimelineReader(self.store, self.embedder, self.retriever, chat_model, llm_spec).answer(question, shape, k, filters)
        # With an LLM rendering, the reader scores sentences as retrieval scores passages
        # (rag.read.select).
        rendering = self._rendering(question, chat_model)
        vector, analysis = self.retriever.prepare(question, options.pop("lexical_weight", None), rendering)
        hits = self.retriever.search(
            question, k=max(k, CANDIDATE_PASSAGES), filters=filters, query_vector=vector, analysis=analysis, **options
        )
        _unless_filtered_out(hits, filters)
        reader = self.reader(mode, analysis.language, chat_model, llm_spec)
        answer = reader.answer(question, analysis, hits, vector, on_token=on_token)
        answer.passages = hits[:k]
        excluded = _dates_filtered_out(analysis.dates, filters)
        if excluded:
            answer.note = " ".join(filter(None, [answer.note, excluded]))
        return answer

    def article(self, doc_id: str) -> Article | None:
        return self.store.article(doc_id)

    def articles(self) -> list[ArticleInfo]:
        return self.store.articles()

    def stats(self) -> dict:
        return self.store.stats()


def _dates_filtered_out(asked: list[str], filters: Filters | None) -> str | None:
    """A note when the date filters leave out every period the question asks about:
    "in 2021" with articles from 2024 on selected reads as "not in the articles"."""
    if not asked or not filters or not (filters.date_from or filters.date_to):
        return None
    low, high = filters.day_range()
    if any((low is None or date_number(d, upper=True) >= low) and (high is None or date_number(d) <= high) for d in asked):
        return None
    return f"The date filters leave out {', '.join(asked)}, which the question asks about; widen them to search it."


def _unless_filtered_out(hits: list[Hit], filters: Filters | None) -> list[Hit]:
    """Hits, unless filters left none: that would read as "not in the articles"."""
    if filters and not hits:
        raise QuestionError("No article matches the filters (dates, articles, sources); widen them.")
    return hits
