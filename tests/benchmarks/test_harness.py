"""The benchmark command still runs: its quickest mode, on its smallest figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


def test_quick_blocker_figure_writes_json_and_markdown(tmp_path: Path) -> None:
    argv = [sys.executable, str(RUN), "--quick", "--only", "blocker", "--repetitions", "1"]
    done = subprocess.run(
        [*argv, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "latest.json").read_text())
    figure = report["figures"]["blocker"]
    assert "error" not in figure, figure.get("traceback")
    assert figure["params"]["rounds"] == 1
    results = figure["report"]["results"]
    assert results["nullcontext (for scale)"]["cpu_us_per_pair"] > 0
    one = results["one guard (network), prebuilt blocker"]
    assert one.get("cpu_us_per_pair", 0) > 0 or "skipped" in one
    assert [row["figure"] for row in figure["rows"]][:1] == ["3 blocker enter+exit"]
    markdown = (tmp_path / "latest.md").read_text()
    assert "## Summary" in markdown and "3. Blocker enter+exit" in markdown
    assert len(list(tmp_path.glob("*-quick.json"))) == 1
