"""Grader speed, as ratios to baselines measured in the same run (the machines are shared and noisy).

(a) wall time of `mhaquiz grade` on the reference forward and backward, in each sandbox that works here
    (bubblewrap and the plain process), and of `mhaquiz --help`, each as a ratio to `python -c "import numpy"`;
    medians over paired runs (each round runs every command once); and bubblewrap's cost over the plain process.
(b) the reference solutions against PyTorch's CPU multi-head attention at B=2, T=1024, D=512, H=8, causal,
    float64: forward, and backward (ours recomputes the forward, so it is paired with torch's forward +
    backward). Torch runs `F.multi_head_attention_forward` as nn.MultiheadAttention runs it by default
    (need_weights=True: the attention weights materialised, like ours) and fused (need_weights=False: SDPA).
    Each library runs in a process of its own, so neither's allocator state or idle thread pool slows the other.

Usage: python benchmarks/bench_grade.py [--rounds N] [--skip-torch]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"grade mha_forward": 4.0, "grade mha_backward": 4.5, "--help": 2.0}  # ratio to `import numpy`
SIZE = (2, 1024, 512, 8)  # B, T, D, H
CALLS = 5


def cli() -> list:
    script = shutil.which("mhaquiz", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "mhaquiz"]


def wall(command: list, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    return time.perf_counter() - started


def sandbox_modes() -> list:
    """Both sandboxes where bubblewrap works here (the targets hold for each), else the plain process."""
    from mhaquiz.doctor import diagnose_setup

    return ["bwrap", "process"] if diagnose_setup("auto")["engine"] == "bwrap" else ["process"]


def startup(rounds: int) -> None:
    home = tempfile.mkdtemp(prefix="mhaquiz-bench-")  # grades are recorded: never in the learner's store
    environ = {**os.environ, "MHAQUIZ_HOME": home}
    commands = {"import numpy": ([sys.executable, "-c", "import numpy"], environ)}
    for mode in sandbox_modes():
        for exercise in ("mha_forward", "mha_backward"):
            commands[f"grade {exercise} ({mode})"] = (cli() + ["grade", str(ROOT / "solutions" / f"{exercise}.py")],
                                                      {**environ, "MHAQUIZ_SANDBOX": mode})
    commands["--help"] = (cli() + ["--help"], environ)
    for command, env in commands.values():  # warm the file cache
        wall(command, env)
    times = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (command, env) in commands.items():
            times[name].append(wall(command, env))
    shutil.rmtree(home, ignore_errors=True)
    base = statistics.median(times["import numpy"])
    print(f"(a) start-up, median of {rounds} paired rounds; baseline python -c 'import numpy' = {base * 1000:.0f} ms")
    for name in times:
        if name == "import numpy":
            continue
        target = TARGETS[name.split(" (")[0]]
        median = statistics.median(times[name])
        ratio = median / base
        verdict = "ok" if ratio <= target else "OVER TARGET"
        print(f"    mhaquiz {name:30s} {median * 1000:6.0f} ms  {ratio:4.2f}x  (target <= {target}x: {verdict})")
    for exercise in ("mha_forward", "mha_backward"):
        if f"grade {exercise} (bwrap)" in times:
            cost = statistics.median(times[f"grade {exercise} (bwrap)"]) - statistics.median(times[f"grade {exercise} (process)"])
            print(f"    bubblewrap's cost on grade {exercise}: {cost * 1000:+.0f} ms")


def attention_timings(library: str, calls: int) -> dict:
    """Run in a child process: median seconds of `calls` forward and backward runs of one library."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from mhaquiz.grader.inputs import causal_mask, mha_params

    B, T, D, H = SIZE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, D))
    params = mha_params(rng, D)
    mask = causal_mask(T)
    d_out = rng.standard_normal((B, T, D))
    if library == "ours":
        from mhaquiz.grader.exercises import get_exercise

        forward = get_exercise("mha_forward").reference().mha_forward
        backward = get_exercise("mha_backward").reference().mha_backward
        runs = {"forward": lambda: forward(x, x, x, params, H, mask),
                "backward": lambda: backward(d_out, x, x, x, params, H, mask)}
    else:
        import torch

        x_t = torch.tensor(x.transpose(1, 0, 2).copy())  # torch wants (T, B, D)
        d_out_t = torch.tensor(d_out.transpose(1, 0, 2).copy())
        params_t = {name: torch.tensor(value) for name, value in params.items()}
        not_allowed = torch.tensor(~mask)  # torch's boolean mask: True = may NOT attend

        def torch_mha(need_weights: bool, grad: bool):
            p = {name: value.detach().clone().requires_grad_(grad) for name, value in params_t.items()}
            xt = x_t.detach().clone().requires_grad_(grad)
            with torch.set_grad_enabled(grad):
                out, _ = torch.nn.functional.multi_head_attention_forward(
                    xt, xt, xt, D, H, None, torch.cat([p["b_q"], p["b_k"], p["b_v"]]), None, None, False, 0.0,
                    p["W_o"].T, p["b_o"], training=False, need_weights=need_weights, attn_mask=not_allowed,
                    use_separate_proj_weight=True, q_proj_weight=p["W_q"].T, k_proj_weight=p["W_k"].T,
                    v_proj_weight=p["W_v"].T)
            if grad:
                out.backward(d_out_t)

        fused = library == "torch-fused"
        runs = {"forward": lambda: torch_mha(not fused, False), "backward": lambda: torch_mha(not fused, True)}
    medians = {}
    for name, run in runs.items():
        run()  # warm-up
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        medians[name] = statistics.median(times)
    return medians


def versus_torch(rounds: int) -> None:
    """Each library in its own process (no shared allocator or idle-spinning thread pools), paired rounds."""
    try:
        import torch
    except ImportError:
        print("(b) skipped: torch is not importable (pip install torch==2.13.0)")
        return
    libraries = ("ours", "torch", "torch-fused")
    results = {library: {"forward": [], "backward": []} for library in libraries}
    for _ in range(rounds):
        for library in libraries:
            output = subprocess.run([sys.executable, __file__, "--child", library], capture_output=True, text=True,
                                    check=True).stdout
            for name, seconds in json.loads(output).items():
                results[library][name].append(seconds)
    median = {library: {name: statistics.median(values) for name, values in runs.items()}
              for library, runs in results.items()}
    B, T, D, H = SIZE
    print(f"(b) reference vs torch {torch.__version__} ({torch.get_num_threads()} threads), B={B} T={T} D={D} H={H}, "
          f"causal, float64; each library in its own process, median over {rounds} rounds of {CALLS} calls")
    print("    torch 'default' = F.multi_head_attention_forward as nn.MultiheadAttention calls it (need_weights=True);")
    print("    'fused' = need_weights=False (SDPA kernel). Backward = our mha_backward vs torch forward + backward.")
    for name in ("forward", "backward"):
        ours = median["ours"][name]
        for library, label in (("torch", "default"), ("torch-fused", "fused")):
            ratio = ours / median[library][name]
            target = "  (target <= 1.25x: " + ("ok)" if ratio <= 1.25 else "OVER TARGET)") if label == "default" else ""
            print(f"    {name:8s} ours {ours * 1000:7.1f} ms vs torch {label:7s} {median[library][name] * 1000:7.1f} ms:"
                  f" {ratio:4.2f}x{target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--child", choices=("ours", "torch", "torch-fused"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(attention_timings(args.child, CALLS)))
        return
    startup(args.rounds)
    if not args.skip_torch:
        versus_torch(args.rounds)


if __name__ == "__main__":
    main()
