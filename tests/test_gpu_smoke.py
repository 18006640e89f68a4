"""bench/gpu_smoke.py, the prepared GPU smoke script, runs end to end on CPU as CI runs it."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_gpu_smoke_script_finishes_its_sft_stage_and_vac_iteration_on_cpu():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "bench/gpu_smoke.py", "--device", "cpu"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("SFT stage finished: 4 steps") for line in lines), done.stdout
    assert any(line.startswith("VAC iteration finished in ") and "validation [" in line for line in lines), done.stdout
    assert "   peak GPU memory: n/a" in lines
