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


def cpu_seconds_per_call(module, case, rounds: int) -> float:
    """CPU seconds per call of `module` on `case`, over `rounds` calls after a warm-up call."""
    from threadpoolctl import threadpool_limits

    from mhaquiz.grader.worker import fresh

    with threadpool_limits(limits=1):
        for _ in range(WARM_UP):
            case.run(module, fresh(case.args, {}))
        started = time.process_time()
        for _ in range(rounds):
            case.run(module, fresh(case.args, {}))
        return (time.process_time() - started) / rounds


def call_in_child(module, case):
    """(peak resident bytes over the start, outputs) of one call of `module` on `case` in a forked child,
    held at a MemoryGate as the warden holds a runner."""
    import os
    import pickle

    from mhaquiz.grader.spec import named_outputs
    from mhaquiz.grader.worker import MemoryGate, fresh

    read, write = os.pipe()
    gate = MemoryGate()
    pid = os.fork()
    if pid == 0:  # the child: one call, its outputs back through the pipe
        try:
            os.close(read)
            gate.wait()
            outputs = named_outputs(case.run(module, fresh(case.args, {})), case.output_names)  # as a runner calls
            data = pickle.dumps({name: value for name, value in outputs.items()})
            os.write(write, len(data).to_bytes(8, "big"))
            view = memoryview(data)
            while view:
                view = view[os.write(write, view):]
        finally:
            os._exit(0)
    gate.hold(pid)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        size = int.from_bytes(pipe.read(8), "big")
        outputs = pickle.loads(pipe.read(size)) if size else {}
    _, _, usage = os.wait4(pid, 0)
    if gate.base is None:
        raise OSError("the peak memory could not be reset")
    return max(0, usage.ru_maxrss * 1024 - gate.base), outputs
