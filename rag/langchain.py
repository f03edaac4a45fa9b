"""LangChain integration: a ``BaseRetriever`` over the RAG index.

    from rag.langchain import RAGRetriever
    retriever = RAGRetriever.from_index_dir("index/", k=5)       # store="milvus:news.db" for Milvus
    docs = retriever.invoke("What did Vietnam and Russia agree in 2021?")

Each ``Document`` carries the chunk's cleaned text and the metadata the CLI prints:
doc_id, chunk_id, title, date, source, start, end, rank, score. Unlike LangChain's
``FAISS.load_local``, nothing here unpickles anything.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.embed import Embedder
from rag.pipeline import RAG
from rag.retrieve import Filters
from rag.store import DEFAULT_STORE


class EmbedderEmbeddings(Embeddings):
    """One of our embedders (query and passage prefixes included) as a LangChain
    ``Embeddings``, so that LangChain's own vector stores can be compared on the same model."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_queries([text])[0].tolist()


class RAGRetriever(BaseRetriever):
    rag: RAG
    k: int = 5
    filters: Filters | None = None
    mode: str = "hybrid"

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @classmethod
    def from_index_dir(cls, index_dir: str | Path = "index", store: str = DEFAULT_STORE, **kwargs) -> RAGRetriever:
        """The index at ``index_dir`` in ``store`` (rag.store.open_store: "faiss",
        "milvus", "milvus:PATH.db" or "milvus://HOST:PORT")."""
        return cls(rag=RAG.open(index_dir, seeds=None, store=store), **kwargs)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.rag.search(query, k=self.k, filters=self.filters, mode=self.mode)
        return [
            Document(
                page_content=h.chunk.text,
                metadata={
                    "doc_id": h.chunk.doc_id, "chunk_id": h.chunk.chunk_id, "title": h.chunk.title, "date": h.chunk.date,
                    "source": h.chunk.source, "start": h.chunk.start, "end": h.chunk.end, "rank": h.rank, "score": h.score,
                },
            )
            for h in hits
        ]
