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
from pathlib import Path

from rag.answer import CANDIDATE_PASSAGES, Answer, ExtractiveAnswerer, Generator
from rag.clean import Article, clean
from rag.embed import Embedder, configured_spec, load_embedder
from rag.followup import contextualize, is_follow_up, rewrite_follow_up
from rag.index import REBUILD_HINT, Index, IndexMismatchError, NoIndexError, read_manifest
from rag.load import LoadError, RawDocument, load_file, load_path
from rag.retrieve import Filters, Hit, Retriever

log = logging.getLogger(__name__)

DEFAULT_INDEX_DIR = Path(os.environ.get("RAG_INDEX_DIR", "index"))
DEFAULT_SEEDS_DIR = Path(os.environ.get("RAG_SEEDS_DIR", "seeds"))
# Long enough for any real question, pasted context included; beyond it the query
# encoder truncates anyway and the user has probably pasted the wrong thing.
MAX_QUESTION_CHARS = 2000

Progress = Callable[[str, int, int], None]


class QuestionError(ValueError):
    pass


def check_question(question: str) -> str:
    if not isinstance(question, str) or not any(ch.isalnum() for ch in question):
        raise QuestionError("The question is empty; type a question.")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
    return " ".join(question.split())


class RAG:
    def __init__(self, index: Index, index_dir: Path | None = None, generator: Generator | None = None):
        self.index = index
        self.index_dir = index_dir
        self.retriever = Retriever(index)
        self.generator = generator or ExtractiveAnswerer(index)

    def use_llm(self, spec: str | None) -> RAG:
        """Answer with the LLM that ``spec`` names (see rag.generate), or extractively
        when ``spec`` is None or empty."""
        self.generator = self.llm_answerer(spec) if spec else ExtractiveAnswerer(self.index)
        return self

    def llm_answerer(self, spec: str) -> Generator:
        from rag.generate import LLMAnswerer, load_chat_model

        return LLMAnswerer(self.index, load_chat_model(spec), spec)

    # ---------------------------------------------------------------- open
    @classmethod
    def open(
        cls,
        index_dir: str | Path = DEFAULT_INDEX_DIR,
        embedder: str | Embedder | None = None,
        seeds: str | Path | None = DEFAULT_SEEDS_DIR,
        progress: Progress | None = None,
    ) -> RAG:
        """Load the index at ``index_dir``; if there is none and ``seeds`` is given,
        build it from there first."""
        index_dir = Path(index_dir)
        try:
            manifest = read_manifest(index_dir)
        except NoIndexError:
            if seeds is None:
                raise
            if not Path(seeds).is_dir():
                raise NoIndexError(f"no index at {index_dir}, and no {seeds}/ folder to build one from; run `rag index PATH...`") from None
            log.info("no index at %s; building it from %s", index_dir, seeds)
            return cls.build([seeds], index_dir, embedder, progress)
        instance = None if embedder is None or isinstance(embedder, str) else embedder
        wanted = instance.spec if instance else (embedder or configured_spec())
        if wanted and wanted != manifest["embedder"]:
            raise IndexMismatchError(
                f"index at {index_dir} was built with embedder '{manifest['embedder']}' but '{wanted}' is configured; "
                f"{REBUILD_HINT}, or ask for '{manifest['embedder']}' (RAG_EMBEDDER, --embedder)"
            )
        index = Index.load(index_dir, lambda spec: instance or load_embedder(spec))
        return cls(index, index_dir)

    @classmethod
    def build(
        cls,
        paths: Iterable[str | Path],
        index_dir: str | Path | None = DEFAULT_INDEX_DIR,
        embedder: str | Embedder | None = None,
        progress: Progress | None = None,
    ) -> RAG:
        """A fresh index from the articles under ``paths``, saved to ``index_dir``."""
        instance = embedder if embedder is not None and not isinstance(embedder, str) else load_embedder(embedder)
        rag = cls(Index(instance), Path(index_dir) if index_dir else None)
        rag.add_paths(paths, progress)
        return rag

    # -------------------------------------------------------------- change
    def add_paths(self, paths: Iterable[str | Path], progress: Progress | None = None) -> dict:
        raws = [doc for p in paths for doc in load_path(p)]
        return self.add_documents(raws, progress)

    def add_upload(self, name: str, data: bytes, progress: Progress | None = None) -> dict:
        """An uploaded file: loaded from memory, added, saved. Raises LoadError with a
        message for the user; the index on disk is unchanged on failure."""
        return self.add_documents(load_file(name, data), progress)

    def add_documents(self, raws: list[RawDocument], progress: Progress | None = None) -> dict:
        """Clean, chunk, embed and save. Returns the doc_ids added (new or replaced:
        ``replaced`` lists those that were already in the index with other content)
        and those skipped as unchanged."""
        articles = [clean(raw) for raw in raws]
        empty = [a.doc_id for a in articles if not a.text.strip()]
        if empty:
            raise LoadError(f"{', '.join(empty)}: nothing left after cleaning; is this a news article?")
        ids = [a.doc_id for a in articles]
        twice = sorted({d for d in ids if ids.count(d) > 1})
        if twice:
            raise LoadError(f"two articles share the id {', '.join(twice)} (same file name or JSONL id); rename one")
        known = set(self.index.articles)
        added, skipped = self._saving(lambda: self.index.add(articles, progress))
        log.info("indexed %d articles, %d unchanged", len(added), len(skipped))
        return {"added": added, "unchanged": skipped, "replaced": [d for d in added if d in known]}

    def remove(self, doc_ids: Iterable[str]) -> list[str]:
        return self._saving(lambda: self.index.remove(doc_ids))

    def _saving(self, change: Callable):
        """Apply a change to the index and save it; if saving fails, undo the change in
        memory too, so that memory and disk agree. The retriever and answerers read
        the index object itself, so nothing else needs refreshing."""
        before = dict(self.index.articles)
        result = change()
        after = self.index.articles
        changed = after.keys() != before.keys() or any(after[d] is not before[d] for d in after)
        if self.index_dir and changed:
            try:
                self.index.save(self.index_dir)
            except BaseException:
                self.index.restore(before)
                raise
        return result

    # ---------------------------------------------------------------- read
    def search(self, query: str, k: int = 5, filters: Filters | None = None, **options) -> list[Hit]:
        return _unless_filtered_out(self.retriever.search(check_question(query), k=k, filters=filters, **options), filters)

    def ask(
        self,
        question: str,
        k: int = 5,
        filters: Filters | None = None,
        history: list[str] | None = None,
        on_token: Callable[[str], None] | None = None,
        generator: Generator | None = None,
        **options,
    ) -> Answer:
        """Answer ``question``; ``history`` (earlier questions of the chat, oldest first)
        turns a follow-up such as "What about 2024?" into a standalone question;
        ``on_token`` receives the answer as it is generated; ``generator`` replaces the
        RAG's own for this question (the UI's per-session choice)."""
        question = check_question(question)
        generator = generator or self.generator
        chat_model = getattr(generator, "chat_model", None)  # an LLM also rewrites follow-ups
        if history and is_follow_up(question):
            question = rewrite_follow_up(chat_model, question, history) if chat_model else contextualize(question, history)
        vector = self.index.embedder.embed_queries([question])[0]
        analysis = self.retriever.analyse(question, options.pop("lexical_weight", None))
        hits = self.retriever.search(
            question, k=max(k, CANDIDATE_PASSAGES), filters=filters, query_vector=vector, analysis=analysis, **options
        )
        _unless_filtered_out(hits, filters)
        answer = generator.answer(question, analysis, hits, vector, on_token=on_token)
        answer.passages = hits[:k]
        return answer

    def article(self, doc_id: str) -> Article:
        return self.index.articles[doc_id].article

    def stats(self) -> dict:
        return {
            "articles": len(self.index.articles),
            "chunks": len(self.index.chunks),
            "embedder": self.index.embedder.spec,
            "built_at": self.index.built_at,
            "sources": sorted({a.article.source for a in self.index.articles.values() if a.article.source}),
            "dates": sorted(a.article.date for a in self.index.articles.values() if a.article.date),
        }


def _unless_filtered_out(hits: list[Hit], filters: Filters | None) -> list[Hit]:
    """Hits, unless filters left none: that would read as "not in the articles"."""
    if filters and not hits:
        raise QuestionError("No article matches the filters (dates, articles, sources); widen them.")
    return hits
