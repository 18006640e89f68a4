"""A newcomer's first minute: how long `tailor demo` takes to print its first answer
(target: under 30 s) and to finish (target: under 2 minutes), run as a user runs it
(progress on, a fresh response cache, the converted model already in place as after
`make install`).

    .venv/bin/python bench/demo_start.py [--quick]
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import note, parse_args, table, write_result

TAILOR = Path(sys.executable).parent / "tailor"


def run_demo(folder: Path, users: int) -> dict:
    """Seconds from the start of the command to each answer, and to its end."""
    env = {**os.environ, "TAILOR_CACHE": str(folder / "cache.sqlite"), "COLUMNS": "120"}
    env.pop("TAILOR_PROGRESS", None)
    started = time.perf_counter()
    child = subprocess.Popen([str(TAILOR), "demo", "--users", str(users), "--out", str(folder / "demo")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder)
    answers = [time.perf_counter() - started for line in child.stdout if line.startswith("Answer")]
    if child.wait():
        raise RuntimeError("tailor demo failed")
    return {"answers_s": answers, "total_s": time.perf_counter() - started}


def main() -> None:
    args = parse_args(__doc__, users=3)
    if args.quick:
        args.users = 1
    with tempfile.TemporaryDirectory() as name:
        result = run_demo(Path(name), args.users)
    rows = [[f"answer {i + 1}", seconds] for i, seconds in enumerate(result["answers_s"])] + [["finished", result["total_s"]]]
    table(f"tailor demo, {args.users} users: seconds from the command's start", ["event", "seconds"], rows)
    first = result["answers_s"][0]
    note(f"targets: first answer under 30 s ({'met' if first < 30 else 'MISSED'}), finished under 120 s ({'met' if result['total_s'] < 120 else 'MISSED'})")
    write_result("demo_start", {"quick": args.quick, "users": args.users, **result, "targets_s": {"first_answer": 30, "finished": 120}})


if __name__ == "__main__":
    main()
