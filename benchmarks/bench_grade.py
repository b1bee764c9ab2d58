"""Grader speed, as ratios to baselines measured in the same run (the machines are shared and noisy).

(a) wall time of `mhaquiz grade` on the reference forward and backward, and of `mhaquiz --help`, each as a
    ratio to `python -c "import numpy"`; medians over paired runs (each round runs every command once).
(b) the reference solutions against PyTorch's CPU multi-head attention at B=2, T=1024, D=512, H=8, causal,
    float64: forward, and backward (ours recomputes the forward, so it is paired with torch's forward +
    backward). Torch runs `F.multi_head_attention_forward` twice: as nn.MultiheadAttention runs by default
    (need_weights=True, the attention weights materialised like ours) and fused (need_weights=False, SDPA).

Usage: python benchmarks/bench_grade.py [--rounds N] [--skip-torch]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"grade mha_forward": 4.0, "grade mha_backward": 4.5, "--help": 2.0}


def cli() -> list:
    script = shutil.which("mhaquiz", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "mhaquiz"]


def wall(command: list) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def startup(rounds: int) -> None:
    commands = {
        "import numpy": [sys.executable, "-c", "import numpy"],
        "grade mha_forward": cli() + ["grade", str(ROOT / "solutions" / "mha_forward.py")],
        "grade mha_backward": cli() + ["grade", str(ROOT / "solutions" / "mha_backward.py")],
        "--help": cli() + ["--help"],
    }
    for command in commands.values():  # warm the file cache
        wall(command)
    times = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            times[name].append(wall(command))
    base = statistics.median(times["import numpy"])
    print(f"(a) start-up, median of {rounds} paired rounds; baseline python -c 'import numpy' = {base * 1000:.0f} ms")
    for name in TARGETS:
        median = statistics.median(times[name])
        ratio = median / base
        verdict = "ok" if ratio <= TARGETS[name] else "OVER TARGET"
        print(f"    mhaquiz {name:20s} {median * 1000:6.0f} ms  {ratio:4.2f}x  (target <= {TARGETS[name]}x: {verdict})")


def versus_torch(rounds: int) -> None:
    try:
        import torch
    except ImportError:
        print("(b) skipped: torch is not importable (pip install torch==2.13.0)")
        return
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from mhaquiz.grader.exercises import get_exercise
    from mhaquiz.grader.inputs import causal_mask, mha_params

    forward = get_exercise("mha_forward").reference().mha_forward
    backward = get_exercise("mha_backward").reference().mha_backward
    B, T, D, H = 2, 1024, 512, 8
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, D))
    params = mha_params(rng, D)
    mask = causal_mask(T)
    d_out = rng.standard_normal((B, T, D))

    x_t = torch.tensor(x.transpose(1, 0, 2).copy())  # torch wants (T, B, D)
    d_out_t = torch.tensor(d_out.transpose(1, 0, 2).copy())
    params_t = {name: torch.tensor(value) for name, value in params.items()}
    not_allowed = torch.tensor(~mask)  # torch's boolean mask: True = may NOT attend

    def torch_mha(need_weights: bool, grad: bool):
        p = {name: value.detach().clone().requires_grad_(grad) for name, value in params_t.items()}
        xt = x_t.detach().clone().requires_grad_(grad)
        out, _ = torch.nn.functional.multi_head_attention_forward(
            xt, xt, xt, D, H, None, torch.cat([p["b_q"], p["b_k"], p["b_v"]]), None, None, False, 0.0,
            p["W_o"].T, p["b_o"], training=False, need_weights=need_weights, attn_mask=not_allowed,
            use_separate_proj_weight=True, q_proj_weight=p["W_q"].T, k_proj_weight=p["W_k"].T,
            v_proj_weight=p["W_v"].T)
        if grad:
            out.backward(d_out_t)
        return out

    def torch_forward(need_weights):
        with torch.no_grad():
            torch_mha(need_weights, False)

    runs = {
        "ours forward": lambda: forward(x, x, x, params, H, mask),
        "torch forward (default)": lambda: torch_forward(True),
        "torch forward (fused)": lambda: torch_forward(False),
        "ours backward": lambda: backward(d_out, x, x, x, params, H, mask),
        "torch fwd+bwd (default)": lambda: torch_mha(True, True),
        "torch fwd+bwd (fused)": lambda: torch_mha(False, True),
    }
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"(b) reference vs torch {torch.__version__} ({torch.get_num_threads()} threads), B={B} T={T} D={D} H={H}, "
          f"causal, float64, median of {rounds}")
    for ours, theirs in (("ours forward", "torch forward"), ("ours backward", "torch fwd+bwd")):
        for flavour in ("default", "fused"):
            name = f"{theirs} ({flavour})"
            ratio = medians[ours] / medians[name]
            target = "  (target <= 1.25x: " + ("ok)" if ratio <= 1.25 else "OVER TARGET)") if flavour == "default" else ""
            print(f"    {ours:14s} {medians[ours] * 1000:7.1f} ms vs {name:24s} {medians[name] * 1000:7.1f} ms: "
                  f"{ratio:4.2f}x{target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    startup(args.rounds)
    if not args.skip_torch:
        versus_torch(args.rounds)


if __name__ == "__main__":
    main()
