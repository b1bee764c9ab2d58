"""Helpers shared by the grader tests: reference sources and one-edit buggy variants of them."""

from pathlib import Path

from mhaquiz.paths import content_dir


def reference_source(exercise_id: str) -> str:
    return (content_dir("solutions") / f"{exercise_id}.py").read_text(encoding="utf-8")


def with_edits(source: str, *edits) -> str:
    """Apply (old, new) replacements, failing loudly if `old` is not in the source (so edits cannot rot)."""
    for old, new in edits:
        assert old in source, f"edit target not found: {old!r}"
        source = source.replace(old, new)
    return source


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


def grade_source(tmp_path: Path, exercise_id: str, source: str, name: str = "submission.py", **options):
    """Grade `source` (written to tmp_path/name) as exercise `exercise_id`."""
    from mhaquiz.grader.grade import grade_file

    return grade_file(write(tmp_path, name, source), exercise_ids=[exercise_id], **options)


# --- a worker simulated in-process: the channel frames a submission with a planted mistake would send ---


def planted_frames(plan, mutant=None, raised: list = None) -> bytes:
    """The frames a worker sends for a submission that is the reference with `mutant` planted (the plain
    reference when None): each case's outputs, or the exception where the bug cannot run (the names of
    those cases are appended to `raised`)."""
    from mhaquiz.grader import channel
    from mhaquiz.grader.diagnose import call, mutated_reference

    module = plan.exercise.reference() if mutant is None else mutated_reference(plan.exercise, mutant)
    assert module is not None, f"the reference lacks a helper {mutant.id} patches"
    stream, failed = b"", False
    for case in plan.cases:
        stream += channel.json_frame(b"S", {"exercise": plan.exercise.id, "case": case.name})
        meta = {"exercise": plan.exercise.id, "case": case.name, "elapsed": 0.0, "bad_outputs": {}, "returned": None,
                "error": None}
        try:
            outputs = call(module, case, mutant)
        except Exception as error:  # noqa: BLE001  (this bug cannot take these shapes: a real one raises too)
            meta["error"] = {"type": type(error).__name__, "message": str(error)[:200], "traceback": ""}
            stream += channel.result_frame(meta, [])
            failed = True
            if raised is not None:
                raised.append(case.name)
            continue
        arrays = [(name, value.astype("float64") if value.dtype.kind in "biuf" else value)
                  for name, value in sorted(outputs.items())]
        stream += channel.result_frame(meta, arrays)
    stream += channel.json_frame(b"D", {})
    control = b'{"kind": "cases", "code": 0, "cpu": 0.01, "maxrss": 30000000}\n'
    checks = plan.exercise.checks()
    if hasattr(checks, "memory_case") and not failed:  # what the warden measures once every case ran
        import json

        import numpy as np

        from mhaquiz.grader.diagnose import call

        memory_case = checks.memory_case(plan.seed)
        with np.errstate(all="ignore"):  # a planted bug may compute NaN, as the submission it stands for would
            peak, outputs = kernel_peak(plan, mutant), call(module, memory_case)
        meta = {"exercise": plan.exercise.id, "case": memory_case.name, "bad_outputs": {}, "returned": None,
                "error": None}
        stream += channel.json_frame(b"S", {"exercise": plan.exercise.id, "case": memory_case.name})
        stream += channel.result_frame(meta, sorted(outputs.items()))
        control += json.dumps({"kind": "memory", "exercise": plan.exercise.id, "code": 0,
                               "peak_bytes": peak}).encode() + b"\n"
    return PlantedRun(stream, control)


class PlantedRun(bytes):
    """A simulated run's result-channel bytes, with the warden's control lines beside them."""

    def __new__(cls, stream: bytes, control: bytes):
        run = super().__new__(cls, stream)
        run.control = control
        return run


def kernel_peak(plan, mutant=None, source: str = "", track: str = "numpy") -> int:
    """The peak resident bytes of one call on the memory case, as the warden measures it (grader/measure.py):
    of the reference, of `mutant` planted in it, or of a submission's `source` in `track`."""
    from mhaquiz.grader.measure import reference_peak

    return reference_peak(plan.exercise.id, plan.seed, mutant.id if mutant is not None else "", source, track)


def judge_frames(plans, stream: bytes, source: str = "x = 1\n", **facts_seen):
    """Judge a simulated run of `plans` from its channel bytes, as grade.judge does after a real one;
    `facts_seen` sets what else the sandbox saw (left_processes=1, timed_out=True, ...)."""
    import ast

    from mhaquiz.grader import grade
    from mhaquiz.grader.channel import Decoder
    from mhaquiz.grader.engine import Exit
    from mhaquiz.grader.report import GradeReport
    from mhaquiz.grader.sandbox import RunFacts
    from mhaquiz.grader.verdict import Verdict

    decoder = Decoder()
    from mhaquiz.grader.channel import ControlDecoder

    decoder.feed(stream)
    control = ControlDecoder()
    control.feed(getattr(stream, "control", b'{"kind": "cases", "code": 0}\n'))
    facts = RunFacts(messages=decoder.finish(), exit=Exit(code=0), sandbox={"engine": "process"}, control=control,
                     **facts_seen)
    report = GradeReport(file="submission.py", verdict=Verdict.PASSED, timeout=5.0, memory_mb=2048)
    return grade.judge(report, plans, facts, ast.parse(source), source)


# The attention part of the multi-head references (mha_forward, mha_rope_forward), each classic mistake as the
# source edits that plant it: buggy submissions one edit away from a reference.
MHA_SOURCE_BUGS = {
    "no_scale": [("(Q / np.sqrt(dh))", "Q")],
    "scale_by_d_model": [("(Q / np.sqrt(dh))", "(Q / np.sqrt(dh * Q.shape[1]))")],
    "scale_by_d_head": [("(Q / np.sqrt(dh))", "(Q / dh)")],
    "softmax_over_queries": [("softmax(scores, axis=-1, out=scores, where=allowed)",
                              "softmax(scores, axis=-2, out=scores, where=allowed)")],
    "no_max_subtraction": [("np.max(x, axis=axis, keepdims=True, where=where, initial=-np.inf)", "0.0")],
    "mask_inverted": [("allowed = True if mask is None else mask", "allowed = True if mask is None else ~mask")],
    "mask_ignored": [("allowed = True if mask is None else mask", "allowed = True")],
    "mask_causal_hardwired": [("allowed = True if mask is None else mask",
                               "allowed = np.tril(np.ones((Q.shape[-2], K.shape[-2]), dtype=bool))")],
    "mask_after_softmax": [("return softmax(scores, axis=-1, out=scores, where=allowed)",
                            "return softmax(scores, axis=-1, out=scores) * allowed")],
    "split_without_transpose": [("x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)",
                                 "x.reshape(B, num_heads, T, D // num_heads)")],
    "merge_without_transpose": [("x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)", "x.reshape(B, T, H * dh)")],
    "heads_interleaved": [("x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)",
                           "x.reshape(B, T, D // num_heads, num_heads).transpose(0, 3, 1, 2)"),
                          ("x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)", "x.transpose(0, 2, 3, 1).reshape(B, T, H * dh)")],
    "no_output_projection": [('return heads @ params["W_o"] + params["b_o"]', "return heads")],
    "biases_ignored": [(f' + params["b_{n}"]', "") for n in "qkvo"],
    "weights_transposed": [(f'params["W_{n}"]', f'params["W_{n}"].T') for n in "qkvo"],
}


# --- a submission run in-process, in either track: the frames the worker would send -----------------------


def inprocess_frames(plan, source: str, track: str = "numpy") -> bytes:
    """Run `source` as a submission of `plan`'s exercise in this process (no sandbox: our own code or planted
    bugs only), the way a runner calls it in `track`, and return the channel bytes it would send."""
    from types import ModuleType

    from mhaquiz.grader import channel, worker

    module = ModuleType("submission")
    exec(compile(source, "submission.py", "exec"), module.__dict__)
    exercise = {"id": plan.exercise.id, "functions": list(plan.exercise.functions_for(track)), "track": track}
    invoke = worker.invoker(exercise, plan.exercise.checks(), module)
    stream, failed = b"", False
    for case in plan.cases:
        stream += channel.json_frame(b"S", {"exercise": plan.exercise.id, "case": case.name})
        outputs, error, replaced = worker.call_case(case, invoke, Path("submission.py"))
        stream += worker.pack_result(case.name, plan.exercise.id, outputs, error, replaced)
        failed = failed or error is not None
    stream += channel.json_frame(b"D", {})
    checks = plan.exercise.checks()
    if not hasattr(checks, "memory_case") or failed:
        return stream
    frames, control = memory_frames(plan, checks.memory_case(plan.seed), invoke, source, track)
    return PlantedRun(stream + frames, b'{"kind": "cases", "code": 0}\n' + control)


def memory_frames(plan, case, invoke, source: str, track: str):
    """The memory case run through `invoke` (either track), and its peak measured as the warden measures it
    (in a process of its own): (its outputs' frames, the warden's control line with the peak)."""
    import json

    import numpy as np

    from mhaquiz.grader import channel

    from mhaquiz.grader.worker import freeze

    from mhaquiz.grader.spec import named_outputs

    case.args = freeze(case.args, {})  # read-only, as the warden makes them
    with np.errstate(all="ignore"):
        outputs = named_outputs(invoke(case, dict(case.args)), case.output_names)
    peak = kernel_peak(plan, source=source, track=track)
    meta = {"exercise": plan.exercise.id, "case": case.name, "bad_outputs": {}, "returned": None, "error": None}
    frames = (channel.json_frame(b"S", {"exercise": plan.exercise.id, "case": case.name})
              + channel.result_frame(meta, sorted(outputs.items())))
    control = json.dumps({"kind": "memory", "exercise": plan.exercise.id, "code": 0, "peak_bytes": peak}).encode()
    return frames, control + b"\n"


def judge_source(exercise_id: str, source: str, track: str = "numpy", seed: int = 0):
    """The report of `source` run in-process as a submission of `exercise_id` in `track` (a banned call is
    refused first, from the parsed source, as grade_file refuses it)."""
    from mhaquiz.grader import grade
    from mhaquiz.grader.exercises import get_exercise

    import ast

    from mhaquiz.grader.report import GradeReport
    from mhaquiz.grader.verdict import Verdict

    plan = grade._plan(get_exercise(exercise_id), seed, track)
    refused = GradeReport(file="submission.py", verdict=Verdict.PASSED, track=track)
    if grade.refuse_banned(refused, [plan.exercise], ast.parse(source), track):  # decided unrun, as grade_file does
        return refused
    return judge_frames([plan], inprocess_frames(plan, source, track), source)
