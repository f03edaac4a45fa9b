"""The Milvus store through the CLI, as a user runs it: real processes, a real Milvus
Lite, kill -9 during writes, a second process waiting for Milvus Lite's lock, a server
that cannot be reached. (Retrieval and index behaviour on Milvus are in test_retrieve.py
and test_index.py, which run on both stores.)"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import pytest

from rag.pipeline import RAG
from tests.conftest import EXAMPLES, SEEDS
from tests.test_store_adversarial import CLI, ROOT, _env, assert_ok, assert_user_error, cli, show, write_articles

RUSSIA_2021 = "2984af66f89cc659"


@pytest.fixture(scope="module")
def milvus_base(tmp_path_factory) -> Path:
    """A Milvus Lite index of three short articles, built through the CLI. Read-only."""
    source = tmp_path_factory.mktemp("mv-articles")
    write_articles(source, "base", 3)
    directory = tmp_path_factory.mktemp("mv-index")
    assert_ok(cli("index", source, "--index-dir", directory, "--store", "milvus"))
    return directory


def test_cli_indexes_searches_and_answers_on_milvus_lite(tmp_path):
    store = f"milvus:{tmp_path / 'news.db'}"
    indexed = cli("index", SEEDS, "--store", store, "--index-dir", tmp_path / "unused")
    assert_ok(indexed)
    assert "indexed 5 new" in indexed.stdout, show(indexed)
    assert not (tmp_path / "unused").exists(), "a Milvus store writes nothing to the index folder"
    again = cli("index", SEEDS, "--store", store)
    assert "nothing to do: all 5 articles" in again.stdout, show(again)

    # RAG_STORE is the same setting as --store.
    found = cli("search", EXAMPLES[0], "--json", "--k", "3", env={"RAG_STORE": store})
    assert_ok(found)
    assert RUSSIA_2021 in [h["doc_id"] for h in json.loads(found.stdout)["hits"]], show(found)
    answer = cli("ask", EXAMPLES[1], "--json", "--store", store)
    assert_ok(answer)
    cited = json.loads(answer.stdout)["citations"]
    assert cited and cited[0]["doc_id"] == RUSSIA_2021, show(answer)
    filtered = cli("search", "hợp tác quốc phòng", "--json", "--from", "2024-01-01", "--store", store)
    assert_ok(filtered)
    assert {h["date"][:4] for h in json.loads(filtered.stdout)["hits"]} == {"2024"}, show(filtered)


def test_kill_9_during_index_leaves_every_article_whole_or_absent(milvus_base, tmp_path, embedder):
    """Milvus commits article by article (rag.store.milvus): after kill -9 an article is
    there with all its chunks or not at all, and the same command run again completes."""
    import shutil

    index = tmp_path / "index"
    shutil.copytree(milvus_base, index)
    rng = random.Random(20261124)
    expected = set(_titles(index, embedder))
    for iteration in range(4):
        folder = tmp_path / f"batch{iteration}"
        batch = write_articles(folder, f"mvkill{iteration}", 3)
        command = ("index", folder, "--index-dir", index, "--store", "milvus")
        p = subprocess.Popen([*CLI, *map(str, command)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        time.sleep(rng.uniform(1.0, 6.0))
        finished = p.poll() == 0
        p.kill()
        p.wait(timeout=30)

        rag = RAG.open(index, embedder=embedder, seeds=None, store="milvus")
        try:
            infos = rag.articles()
            titles = {a.title for a in infos}
            assert expected <= titles <= expected | set(batch), f"iteration {iteration}: {titles}"
            for info in infos:
                chunks = rag.store.chunks_of(info.doc_id)
                assert len(chunks) == info.chunks, f"iteration {iteration}: {info.title} is half written"
            assert rag.search("người dân phấn khởi", k=3), f"iteration {iteration}: no results after kill -9"
        finally:
            rag.close()
        if not finished:
            assert_ok(cli(*command))
        expected |= set(batch)
        assert set(_titles(index, embedder)) == expected, f"iteration {iteration}"


def test_a_second_process_waits_for_milvus_lite_then_runs(milvus_base, tmp_path):
    """Milvus Lite serves one process a file: another waits for it instead of failing."""
    import shutil

    index = tmp_path / "index"
    shutil.copytree(milvus_base, index)
    holder = subprocess.Popen(
        [*CLI[:1], "-c", "import sys, time; from rag.pipeline import RAG; RAG.open(sys.argv[1], seeds=None, store='milvus'); "
         "print('open', flush=True); time.sleep(4)", str(index)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        started = time.monotonic()
        waited = cli("search", "người dân phấn khởi", "--index-dir", index, "--store", "milvus")
        assert_ok(waited)
        assert time.monotonic() - started > 1.0, "the search did not wait for the holder"
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_unreachable_server_and_bad_store_names_fail_in_one_line(tmp_path):
    started = time.monotonic()
    line = assert_user_error(cli("search", "hợp tác", "--store", "milvus://127.0.0.1:9", "--index-dir", tmp_path), "cannot reach")
    assert "--store" in line
    assert time.monotonic() - started < 30, "an unreachable server must fail fast"
    assert_user_error(cli("search", "hợp tác", "--store", "elastic", "--index-dir", tmp_path), "unknown store")
    assert_user_error(cli("index", SEEDS, "--store", f"milvus:{tmp_path / 'x.sqlite'}"), ".db")


def _titles(index: Path, embedder) -> list[str]:
    rag = RAG.open(index, embedder=embedder, seeds=None, store="milvus")
    try:
        return [a.title for a in rag.articles()]
    finally:
        rag.close()
