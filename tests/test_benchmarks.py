"""The benchmark scripts run end to end on tiny settings and write the JSON they promise (all but the
quickest are `slow`: CI runs them with `make test-slow`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.runtime.tiny_models import save_tiny
from conftest import ROOT


def test_lora_layer_benchmark_writes_its_table(tmp_path):
    out = tmp_path / "lora_layer.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lora_layer.py"), "--dims", "64", "--ranks", "4",
                             "--repeats", "1", "--min-time", "0.01", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "lora/frozen" in result.stdout
    row = json.loads(out.read_text())["rows"][0]
    assert (row["d"], row["r"]) == (64, 4)
    assert {"linear", "frozen", "lora", "peft", "naive", "merged_forward"} <= set(row["seconds"])
    assert all(value > 0 for value in row["seconds"].values())



@pytest.mark.slow   # a benchmark end to end: CI runs it with `make test-slow`
def test_finetune_benchmark_compares_lora_with_full_fine_tuning(tmp_path, library):
    out = tmp_path / "finetune.json"
    # --length 128, not less: the tiny model's byte-level tokens spend ~110 of them on the prompt alone.
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "finetune.py"), "--model",
                             str(save_tiny(tmp_path / "tiny")), "--steps", "1", "--warmup", "1", "--length", "128",
                             "--skip-gguf", "--library", str(library), "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training state: full / lora-qkvo" in result.stdout
    data = json.loads(out.read_text())
    variants = data["variants"]
    assert set(variants) == {"lora-qkvo", "lora-all-linear", "full"}
    assert all(row["seconds_per_step"] > 0 and row["peak_rss_bytes"] > 0 for row in variants.values())
    assert variants["lora-qkvo"]["trainable_params"] < variants["lora-all-linear"]["trainable_params"] \
        < variants["full"]["trainable_params"] == variants["full"]["total_params"]
    assert variants["lora-qkvo"]["checkpoint_files"].keys() >= {"adapter_config.json", "adapter_model.safetensors"}
    assert data["loads"]["cached"]["seconds"] > 0 and "gguf" not in data["loads"]


@pytest.mark.slow   # a benchmark end to end: CI runs it with `make test-slow`
def test_service_benchmark_compares_switches_batching_and_memory(tmp_path):
    out = tmp_path / "service.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "service.py"), "--model",
                             str(save_tiny(tmp_path / "tiny")), "--requests", "6", "--tokens", "4", "--repeats", "5",
                             "--resident", "1", "2", "4", "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "switch cost (median)" in result.stdout and "targets" in result.stdout
    data = json.loads(out.read_text())
    assert {"activate_ms", "set_adapter_ms", "load_adapter_ms", "reload_model_ms"} == set(data["switch"])
    assert all(value > 0 for value in data["switch"].values())
    modes = data["throughput"]
    assert all(modes[mode]["wall_seconds"] > 0 and len(modes[mode]["replies"]) == 6
               for mode in ("lock", "batched", "merged"))
    assert modes["batched"]["same_replies_as_lock"] == 6      # greedy: batching changes no reply
    assert modes["batches_of_reference"] < 7                  # 6 requests plus the warm-up, some batched
    assert set(data["memory"]["rss_bytes"]) == {"1", "2", "4"}


@pytest.mark.slow   # a benchmark end to end: CI runs it with `make test-slow`
def test_grade_all_benchmark_times_a_small_class(tmp_path):
    out = tmp_path / "grade_all.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "grade_all.py"), "--copies", "2", "--jobs", "2",
                             "--part", "matmul", "--out", str(out)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "total / copy s" in result.stdout
    data = json.loads(out.read_text())
    assert (data["copies"], data["jobs"], data["parts"], data["errors"], data["scores"]) == (2, 2, ["matmul"], {}, ["10/10"])
    assert 0 < data["submission_seconds"]["min"] <= data["total_seconds"]


@pytest.mark.slow   # a benchmark end to end: CI runs it with `make test-slow`
def test_exploit_table_prints_attack_defence_and_points_gained(tmp_path):
    out = tmp_path / "exploits.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "exploits.py"), "--only", "matmul_patch_builtins",
                             "--out", str(out)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "patch builtins" in result.stdout and "1/1 exploits blocked, 0 points gained" in result.stdout
    [row] = json.loads(out.read_text())["exploits"]
    assert row["gained"] == 0 and row["outcome"] == "blocked" and "process isolation" in row["blocked_by"]
    # each in an auditing process of its own (the rehearsals: a fresh container for each submission)
    alone = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "exploits.py"), "--each-alone", "--only",
                            "matmul_patch_builtins", "matmul_daemon", "--out", str(out)], capture_output=True, text=True,
                           timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert alone.returncode == 0 and "graded 2 exploits" in alone.stdout and ": 2 held" in alone.stdout, alone.stdout[-2000:]
    assert [(row["name"], row["outcome"]) for row in json.loads(out.read_text())["exploits"]] == \
        [("matmul_daemon", "blocked"), ("matmul_patch_builtins", "blocked")]


@pytest.mark.slow   # grades three submissions in fresh processes: CI runs it with `make test-slow`
def test_hostile_files_cost_the_grading_process_what_a_normal_grade_costs(tmp_path):
    out = tmp_path / "grader_reads.json"
    cases = ["reference", "matmul_expanding_results", "matmul_link_to_dev_zero"]
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "grader_reads.py"), "--only", *cases,
                             "--out", str(out)], capture_output=True, text=True, timeout=900, cwd=ROOT / "benchmarks")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["cases"]
    normal = rows["reference"]
    for name in cases:
        assert "crash" not in rows[name] and rows[name]["exit"] == 0, rows[name]
        assert rows[name]["rss_mb"] <= 2 * normal["rss_mb"], (name, rows[name]["rss_mb"], normal["rss_mb"])
        assert rows[name]["written_mb"] < 100, (name, rows[name]["written_mb"])
