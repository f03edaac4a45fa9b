"""The `rag` command line, run in-process on real files."""

from __future__ import annotations

import json
import shutil

from rag.cli import main
from tests.conftest import SEEDS


def test_search_json_contract(seed_index_dir, capsys):
    assert main(["search", "--index-dir", str(seed_index_dir), "--json", "--k", "3", "hợp tác quốc phòng"]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["query"] == "hợp tác quốc phòng"
    assert [h["rank"] for h in result["hits"]] == [1, 2, 3]
    assert {"rank", "doc_id", "chunk_id", "title", "date", "source", "text", "score"} <= set(result["hits"][0])


def test_search_file_gives_one_line_per_query(seed_index_dir, tmp_path, capsys):
    queries = tmp_path / "q.txt"
    queries.write_text("lưu học sinh\n\nWhat did Vietnam and Russia agree in 2021?\n", encoding="utf-8")
    assert main(["search", "--index-dir", str(seed_index_dir), "--json", "--file", str(queries)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["query"] for line in lines] == ["lưu học sinh", "What did Vietnam and Russia agree in 2021?"]


def test_ask_json_contract(seed_index_dir, capsys):
    assert main(["ask", "--index-dir", str(seed_index_dir), "--json", "What did Vietnam and Russia agree in 2021?"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["abstained"] is False and "[1]" in result["answer"]
    assert {"n", "doc_id", "chunk_id", "title", "date", "text", "quote"} <= set(result["citations"][0])


def test_ask_readable_output(seed_index_dir, capsys):
    assert main(["ask", "--index-dir", str(seed_index_dir), "Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?"]) == 0
    out = capsys.readouterr().out
    assert "51.000" in out and "[1] Hợp Tác Quốc Phòng Việt Nam Nhật Bản" in out


def test_bad_input_exits_nonzero_with_one_line(seed_index_dir, tmp_path, capsys):
    assert main(["ask", "--index-dir", str(seed_index_dir), "   "]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert main(["index", "--index-dir", str(seed_index_dir), str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no such file" in err


def test_mismatched_index_exits_nonzero(seed_index_dir, monkeypatch, capsys):
    monkeypatch.setenv("RAG_EMBEDDER", "st:another-model")
    assert main(["search", "--index-dir", str(seed_index_dir), "anything"]) == 2
    assert "rebuild" in capsys.readouterr().err


def test_search_builds_missing_index_from_seeds(tmp_path, monkeypatch, capsys):
    # `rag search` in a fresh checkout: no index yet, seeds/ present.
    shutil.copytree(SEEDS, tmp_path / "seeds")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("rag.cli.DEFAULT_SEEDS_DIR", tmp_path / "seeds")
    assert main(["search", "--index-dir", str(tmp_path / "index"), "--json", "--k", "1", "lưu học sinh"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["hits"][0]["doc_id"] == "928598893a65ddec"
    assert "embedding" in captured.err  # the progress bar
    assert (tmp_path / "index" / "store.db").exists()


def test_index_command_is_incremental(writable_index, capsys):
    assert main(["index", "--index-dir", str(writable_index), str(SEEDS)]) == 0
    assert "nothing to do: all 5 articles are already indexed" in capsys.readouterr().out
    assert main(["index", "--index-dir", str(writable_index), "--if-missing", str(SEEDS)]) == 0
    assert "nothing to do" in capsys.readouterr().out
