"""How fast `mhaquiz ask` puts its first question on screen, with the full built-in bank.

Runs `python -m mhaquiz ask` with stdin piped and already at its end, and times from launch to the moment
the first question's header reaches stdout; paired with `python -c "import numpy"` in the same loop, so the
ratio holds on any machine. Also times loading and validating the bank in-process. Medians of --runs.

    python benchmarks/bench_ask.py [--runs 15] [--bank PATH]

Target (issue 3): well under half a second to the first question.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
FIRST_QUESTION_MARKER = b"== Question 1/"


def time_to_first_question(home: str, bank: str | None) -> float:
    """Seconds from launch until the first question's header is printed."""
    command = [sys.executable, "-m", "mhaquiz", "ask", "--lang", "en", "--count", "1"]
    if bank:
        command += ["--bank", bank]
    env = {**os.environ, "MHAQUIZ_HOME": home, "PYTHONPATH": str(REPOSITORY)}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPOSITORY)
    seen = b""
    for line in process.stdout:
        seen += line
        if FIRST_QUESTION_MARKER in line:
            elapsed = time.perf_counter() - start
            break
    else:
        process.wait()
        raise SystemExit(f"mhaquiz ask never showed a question:\n{seen.decode()}{process.stderr.read().decode()}")
    process.communicate()
    return elapsed


def time_import_numpy() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import numpy"], check=True)
    return time.perf_counter() - start


def time_bank_load(bank: str | None, runs: int) -> float:
    sys.path.insert(0, str(REPOSITORY))
    from mhaquiz.quiz.bank import load_bank

    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        load_bank(Path(bank) if bank else None)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bank", help="a bank to use instead of the built-in one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        time_to_first_question(home, args.bank)  # warm-up: creates the progress database, fills OS caches
        ask_times, numpy_times = [], []
        for _ in range(args.runs):
            ask_times.append(time_to_first_question(home, args.bank))
            numpy_times.append(time_import_numpy())
    ask_median, numpy_median = statistics.median(ask_times), statistics.median(numpy_times)
    print(f"mhaquiz ask, launch to first question: {ask_median * 1000:6.0f} ms (median of {args.runs})")
    print(f'python -c "import numpy":              {numpy_median * 1000:6.0f} ms')
    print(f"ratio ask / import numpy:              {ask_median / numpy_median:6.2f}x")
    print(f"load + validate the bank in-process:   {time_bank_load(args.bank, args.runs) * 1000:6.1f} ms")
    verdict = "OK" if ask_median < 0.5 else "TOO SLOW"
    print(f"target < 500 ms to the first question: {verdict}")


if __name__ == "__main__":
    main()
