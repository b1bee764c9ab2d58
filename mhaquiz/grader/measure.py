"""Measuring the reference in the grader's own process, the way the warden measures the submission (worker.py).

Time: 
The submission's figure is the CPU time the kernel counted for its extra R calls (a runner making 1 + R calls
minus one making 1). The reference is timed here likewise: warm-up calls (the allocator settles, as it has in
the runner by its second call), then R calls, CPU time of this process, with BLAS held to one thread as the worker's environment holds it (threadpoolctl). 
Memory: the peak resident bytes of one call over the resident size at its start, counted by the kernel for
a forked child that makes only that call (wait4), as the warden counts it for a runner.

The reference never goes near the process that runs learner code.
"""

from __future__ import annotations

import time

WARM_UP = 2  # calls before the timed ones


def cpu_seconds_per_call(module, case, budget: float = 0.02, most: int = 200) -> float:
    """CPU seconds per call of `module` on `case`: the mean over as many calls as fit `budget` seconds of
    CPU (at least one, at most `most`), after warm-up calls."""
    from threadpoolctl import threadpool_limits

    from mhaquiz.grader.worker import fresh

    with threadpool_limits(limits=1):
        for _ in range(WARM_UP):
            case.run(module, fresh(case.args, {}))
        started, calls = time.process_time(), 0
        while calls < most and (calls == 0 or time.process_time() - started < budget):
            case.run(module, fresh(case.args, {}))
            calls += 1
        return (time.process_time() - started) / calls


def reference_peak(exercise_id: str, seed: int, mutant_id: str = "", source: str = "", track: str = "numpy",
                   timeout: float = 120.0) -> int:
    """Peak resident bytes of one call on the exercise's memory case, over the resident size at its start,
    in a fresh Python of its own, measured as the warden measures a runner (the peak reset through /proc,
    large arrays on fresh pages); never forked from the grader (a process that has had threads cannot fork
    safely). Of the reference, of a mutant of it (`mutant_id`), or of a submission's `source` in `track`
    (our tests' own code only: this process is not a sandbox)."""
    import os
    import subprocess
    import sys

    from mhaquiz.grader.engine import THREAD_VARIABLES

    command = [sys.executable, "-c", "from mhaquiz.grader.measure import _peak_main; _peak_main()",
               exercise_id, str(seed), mutant_id, track]
    env = {**os.environ, **{name: "1" for name in THREAD_VARIABLES}}
    done = subprocess.run(command, input=source, capture_output=True, text=True, timeout=timeout, env=env, check=True)
    return int(done.stdout.split()[-1])


def _peak_main() -> None:
    """`reference_peak`'s process: argv = exercise id, seed, mutant id, track; a submission's source on stdin."""
    import sys
    from types import ModuleType

    import numpy as np

    from mhaquiz.grader import exercises as registry
    from mhaquiz.grader.diagnose import mutated_reference
    from mhaquiz.grader.spec import named_outputs
    from mhaquiz.grader.worker import (fixed_mmap_threshold, fresh, import_torch, invoker, populate_file_mappings,
                                       resident_bytes, trim_heap)

    exercise_id, seed, mutant_id, track = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    exercise = registry.get_exercise(exercise_id)
    checks = exercise.checks()
    source = sys.stdin.read()
    if source:
        if track == "torch":
            import_torch()
        module = ModuleType("submission")
        exec(compile(source, "submission.py", "exec"), module.__dict__)
    elif mutant_id:
        module = mutated_reference(exercise, next(m for m in checks.MUTANTS if m.id == mutant_id))
    else:
        module = exercise.reference()
    invoke = invoker({"id": exercise_id, "track": track if source else "numpy"}, checks, module)
    case = checks.memory_case(seed)
    fixed_mmap_threshold()
    trim_heap()
    populate_file_mappings()
    args = fresh(case.args, {})
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the high-water mark starts again from here
    base = resident_bytes()
    with np.errstate(all="ignore"):  # a planted mistake may compute NaN
        named_outputs(invoke(case, args), case.output_names)
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    print(max(0, peak - base))
