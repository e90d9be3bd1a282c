"""The benchmark scripts run end to end on tiny settings and write the JSON they promise."""

from __future__ import annotations

import json
import subprocess
import sys

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
