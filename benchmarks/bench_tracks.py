"""The PyTorch track's start-up and the warm warden's re-grade, against baselines measured in the same run.

(a) wall time of a cold `mhaquiz grade` of the PyTorch reference of mha_forward, against
    `python -c "import torch"` (target <= 1.3x), in each sandbox that works here.
(b) `watch`'s save -> verdict: a re-grade in a warm warden (grader.sandbox.WarmPool, as `watch` keeps one),
    NumPy and PyTorch references of mha_forward, in each sandbox; the targets are absolute on this machine
    (<= 0.25 s NumPy, <= 0.5 s PyTorch) and are printed with the ratio to `python -c "import numpy"` measured
    in the same run, which says how loaded the machine was.

Medians over paired rounds (each round runs every command once). Usage: python benchmarks/bench_tracks.py
[--rounds N]. Needs torch (pip install "mhaquiz[torch]"); without it, only the NumPy re-grade runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLD_TORCH_TARGET = 1.3  # x python -c "import torch"
WARM_TARGETS = {"numpy": 0.25, "torch": 0.5}  # seconds, save -> verdict in a warm warden


def wall(command: list, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    return time.perf_counter() - started


def cli() -> list:
    script = shutil.which("mhaquiz", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "mhaquiz"]


def modes() -> list:
    from mhaquiz.doctor import diagnose_setup

    return ["bwrap", "process"] if diagnose_setup("auto")["engine"] == "bwrap" else ["process"]


def reference(track: str) -> Path:
    return ROOT / "solutions" / ("torch" if track == "torch" else "") / "mha_forward.py"


def cold(rounds: int, home: str, has_torch: bool) -> float:
    """(a); returns the `import numpy` baseline for (b)."""
    environ = {**os.environ, "MHAQUIZ_HOME": home}
    commands = {"import numpy": [sys.executable, "-c", "import numpy"]}
    if has_torch:
        commands["import torch"] = [sys.executable, "-c", "import torch"]
        for mode in modes():
            commands[f"grade torch mha_forward ({mode})"] = cli() + ["grade", str(reference("torch")), "--sandbox", mode]
    for command in commands.values():  # warm the file cache
        wall(command, environ)
    times = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            times[name].append(wall(command, environ))
    medians = {name: statistics.median(values) for name, values in times.items()}
    if has_torch:
        base = medians["import torch"]
        print(f"(a) cold grade of the PyTorch reference, median of {rounds} paired rounds; "
              f"baseline python -c 'import torch' = {base * 1000:.0f} ms")
        for name, median in medians.items():
            if name.startswith("grade"):
                ratio = median / base
                verdict = "ok" if ratio <= COLD_TORCH_TARGET else "OVER TARGET"
                print(f"    mhaquiz {name:34s} {median * 1000:6.0f} ms  {ratio:4.2f}x  "
                      f"(target <= {COLD_TORCH_TARGET}x: {verdict})")
    return medians["import numpy"]


def warm(rounds: int, numpy_base: float, has_torch: bool) -> None:
    """(b): a save -> verdict in a warm warden, as `watch` does it (the first grade starts the warden)."""
    from mhaquiz.grader.grade import grade_file
    from mhaquiz.grader.sandbox import WarmPool

    print(f"(b) watch: save -> verdict in a warm warden, median of {rounds} re-grades; "
          f"python -c 'import numpy' = {numpy_base * 1000:.0f} ms in the same run")
    for track in ("numpy", "torch") if has_torch else ("numpy",):
        for mode in modes():
            folder = Path(tempfile.mkdtemp(prefix="mhaquiz-bench-"))
            path = folder / "mha_forward.py"
            shutil.copyfile(reference(track), path)
            seconds = []
            with WarmPool() as pool:
                grade_file(path, sandbox=mode, pool=pool)  # starts the warden, as watch's first grade does
                for _ in range(rounds):
                    path.write_text(path.read_text())  # a save
                    started = time.perf_counter()
                    report = grade_file(path, sandbox=mode, pool=pool)
                    seconds.append(time.perf_counter() - started)
                    assert report.passed and report.sandbox.get("warm"), report.detail
            shutil.rmtree(folder, ignore_errors=True)
            median, target = statistics.median(seconds), WARM_TARGETS[track]
            verdict = "ok" if median <= target else "OVER TARGET"
            print(f"    re-grade {track:5s} mha_forward ({mode:7s}) {median * 1000:6.0f} ms  "
                  f"{median / numpy_base:4.2f}x import numpy  (target <= {target} s: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    has_torch = importlib.util.find_spec("torch") is not None
    home = tempfile.mkdtemp(prefix="mhaquiz-bench-")  # grades are recorded: never in the learner's store
    os.environ["MHAQUIZ_HOME"] = home
    try:
        base = cold(args.rounds, home, has_torch)
        warm(args.rounds, base, has_torch)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
