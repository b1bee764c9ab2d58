"""Grade a submission file: run it in the sandbox, compare with the reference, explain what is wrong.

The path: `start_grading` reads and parses the file (never runs it here), picks the exercises and starts
the sandbox; `Grading.finish` computes the reference's outputs and imports everything judging needs while
the submission runs, collects the run's facts, and `judge` turns them into verdicts: run-level facts
(limits, crashes, a corrupted channel, forbidden operations), then case by case, then the overall verdict
by verdict.PRECEDENCE, naming the exercise and case it comes from.
"""

from __future__ import annotations

import ast
import io
import signal
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from mhaquiz.errors import MhaquizError
from mhaquiz.grader import exercises as registry
from mhaquiz.grader.channel import safe_text
from mhaquiz.grader.report import CaseResult, ExerciseResult, GradeReport, Message
from mhaquiz.grader.sandbox import RunFacts, Sandbox
from mhaquiz.grader.spec import Tolerance
from mhaquiz.grader.verdict import Verdict, main, ranked

MAX_SOURCE_BYTES = 1024 * 1024  # a bigger file is no answer to an exercise
SANDBOX_MODES = ("auto", "bwrap", "process")
_PROCESS_VERDICTS = (Verdict.TIME_LIMIT, Verdict.MEMORY_LIMIT, Verdict.OUTPUT_LIMIT, Verdict.CRASHED,
                     Verdict.EXITED_EARLY, Verdict.CHANNEL_CORRUPTED, Verdict.FORBIDDEN_OPERATION)


def check_limits(timeout: float, memory_mb: int, sandbox: str = "auto") -> None:
    """The sandbox's limits must be positive and its mode known (a usage error otherwise)."""
    if not timeout > 0 or memory_mb <= 0:
        raise MhaquizError("error.limits")
    if sandbox not in SANDBOX_MODES:
        raise MhaquizError("error.sandbox_mode", mode=sandbox, valid=", ".join(SANDBOX_MODES))


def grade_file(path: Path, exercise_ids: Optional[List[str]] = None, seed: int = 0, timeout: float = 5.0,
               memory_mb: int = 2048, sandbox: str = "auto", pool=None) -> GradeReport:
    """Grade the submission at `path` (usage problems raise MhaquizError; everything else is a verdict)."""
    return start_grading(path, exercise_ids, seed, timeout, memory_mb, sandbox, pool).finish()


@dataclass
class Plan:
    """One exercise as the grader sees it: its cases, the reference's outputs on them, its tolerance."""

    exercise: registry.Exercise
    cases: list
    expected: List[Dict]
    tolerance: Tolerance
    seed: int = 0
    track: str = "numpy"
    timed: bool = False  # the warden was asked to time the submission
    reference_seconds: Optional[float] = None  # the reference's CPU time per call on perf_case, timed here


@dataclass
class Grading:
    """A grading run under way: the submission runs in its sandbox while the caller does other work."""

    report: GradeReport
    exercises: List[registry.Exercise] = field(default_factory=list)
    sandbox: Optional[Sandbox] = None
    source: str = ""
    tree: Optional[ast.Module] = None  # the submission, parsed once (never run in this process)

    def finish(self) -> GradeReport:
        """Run the reference, wait for the submission, and judge."""
        if self.sandbox is None:  # decided before anything ran (syntax error, no exercise)
            return self.report
        plans, failure = None, None
        try:
            plans = [_plan(exercise, self.report.seed, self.report.track) for exercise in self.exercises]
            preload()
        except Exception as error:  # noqa: BLE001  (our reference or checks failed: not the learner's fault)
            failure = error
        finally:  # always: it stops the submission and leaves nothing running
            facts = self.sandbox.collect(_contract(self.exercises, plans),
                                         (lambda messages: _measurements(plans, messages)) if plans else None,
                                         (lambda: _time_references(plans)) if plans else None)
        if failure is not None:
            return _internal_error(self.report, failure)
        try:
            return judge(self.report, plans, facts, self.tree, self.source)
        except Exception as error:  # noqa: BLE001
            return _internal_error(self.report, error)


def preload() -> None:
    """Import everything judging and reporting use before the submission finishes: nothing it writes
    meanwhile (a zipfile.py next to it, say) can be imported by the grader afterwards."""
    import json  # noqa: F401
    import sqlite3  # noqa: F401

    import numpy  # noqa: F401
    import rich.markup  # noqa: F401
    import rich.table  # noqa: F401
    import rich.text  # noqa: F401

    from mhaquiz import store  # noqa: F401
    from mhaquiz.grader import compare, diagnose, efficiency, explain, gradcheck, heatmap, render  # noqa: F401
    from mhaquiz.i18n import catalogue

    catalogue("zh"), catalogue("en")


def start_grading(path: Path, exercise_ids: Optional[List[str]] = None, seed: int = 0, timeout: float = 5.0,
                  memory_mb: int = 2048, sandbox: str = "auto", pool=None) -> Grading:
    """Check the request, pick the exercises and start the submission's process; `finish()` judges it.

    `pool` (a sandbox.WarmPool): grade in its warm warden when it has one for this sandbox and track."""
    path = Path(path)
    if path.is_dir():
        raise MhaquizError("error.is_directory", path=path)
    if not path.is_file():
        raise MhaquizError("error.no_such_file", path=path)
    check_limits(timeout, memory_mb, sandbox)
    chosen = [registry.get_exercise(exercise_id) for exercise_id in exercise_ids] if exercise_ids else None
    report = GradeReport(file=str(path), verdict=Verdict.PASSED, seed=seed, timeout=timeout, memory_mb=memory_mb)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MhaquizError("error.unreadable", path=path, reason=error.strerror or str(error)) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise MhaquizError("error.too_large", path=path, size=len(data), limit=MAX_SOURCE_BYTES)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)  # PEP 263, as Python reads it
        source = data.decode(encoding)
        tree = ast.parse(data, filename=path.name)
    except (SyntaxError, ValueError, UnicodeDecodeError, LookupError) as error:  # ValueError: a NUL byte (< 3.12)
        return Grading(_syntax_error(report, error, path))
    except (RecursionError, MemoryError):
        return Grading(_syntax_error(report, SyntaxError("too deeply nested for the parser"), path))
    track = report.track = _track(tree, chosen, path.stem)
    if track == "torch":
        check_torch(chosen)
    if chosen is None:
        chosen = registry.detect(registry.defined_names(tree), file_stem=path.stem, track=track)
        if not chosen:
            wanted = "; ".join(f"{e.id}: {', '.join(e.functions_for(track))}" for e in registry.curriculum()
                               if track in e.tracks)
            report.verdict, report.flags = Verdict.NO_EXERCISE, [Verdict.NO_EXERCISE]
            report.detail = Message("detail.no_exercise", {"wanted": wanted})
            return Grading(report)
    if refuse_banned(report, chosen, tree, track):
        return Grading(report)
    # The submission starts first: its start-up overlaps with the grader's own imports and reference runs.
    job = _job(chosen, seed, timeout, memory_mb, track)
    sandbox_run = (pool.sandbox(path, job, timeout, sandbox, track) if pool is not None
                   else Sandbox(path, job, timeout=timeout, mode=sandbox, track=track))
    return Grading(report, chosen, sandbox_run, source, tree)


def _track(tree: ast.Module, chosen: Optional[List[registry.Exercise]], stem: str) -> str:
    """The file's track. NumPy unless it imports torch; then NumPy still when it defines the NumPy contract
    (a function that uses torch inside, as an adapter around published code does) where that differs from
    the PyTorch one; otherwise PyTorch."""
    if not registry.imports_torch(tree):
        return "numpy"
    names = registry.defined_names(tree)
    exercises = chosen if chosen is not None else registry.detect(names, file_stem=stem)

    def numpy_contract(exercise) -> bool:
        return set(exercise.functions) <= names and set(exercise.functions) != set(exercise.functions_for("torch"))

    return "numpy" if exercises and all(numpy_contract(exercise) for exercise in exercises) else "torch"


def check_torch(chosen: Optional[List[registry.Exercise]]) -> None:
    """A PyTorch file needs torch installed (in the sandbox's Python: the grader itself never imports it) and
    exercises that have a PyTorch form."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise MhaquizError("error.no_torch")
    for exercise in chosen or ():
        if "torch" not in exercise.tracks:
            raise MhaquizError("error.no_torch_form", id=exercise.id, tracks=", ".join(exercise.tracks))


AUTOGRAD_IN_BACKWARD = ("backward", "grad", "enable_grad", "vjp", "jacrev", "jacfwd")  # inside a Function's backward


def refuse_banned(report: GradeReport, chosen: List[registry.Exercise], tree: ast.Module, track: str) -> bool:
    """Give `report` the banned_call verdict when the parsed file calls a banned op; True when it did."""
    banned = _banned_call(chosen, tree, track)
    if banned is None:
        return False
    report.verdict, report.flags = Verdict.BANNED_CALL, [Verdict.BANNED_CALL]
    report.where = (banned["exercise"], "")
    report.detail = Message("detail.banned_call", banned)
    return True


def _banned_call(chosen: List[registry.Exercise], tree: ast.Module, track: str) -> Optional[dict]:
    """The first call of a library op an exercise asks the learner to write (exercise.yaml's `banned`, per
    track: names of functions, methods or classes), or of autograd inside a torch.autograd.Function's
    backward; read from the parsed file, never run (and before numpy is imported: the worker starts first)."""
    for exercise in chosen:
        banned = set((exercise.meta.get("banned") or {}).get(track, ()))
        for node in ast.walk(tree):  # torch.softmax, F.softmax, x.softmax: attributes (self.<name> is the learner's own)
            if (isinstance(node, ast.Attribute) and node.attr in banned
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self")):
                return {"exercise": exercise.id, "call": node.attr, "line": node.lineno}
            if isinstance(node, ast.ImportFrom) and not node.level:  # from torch.nn.functional import softmax
                for alias in node.names:
                    if alias.name in banned and (node.module or "").split(".")[0] in ("torch", "numpy", "scipy"):
                        return {"exercise": exercise.id, "call": alias.name, "line": node.lineno}
        if track == "torch":
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name == "backward":
                    for inner in ast.walk(node):
                        if (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute)
                                and inner.func.attr in AUTOGRAD_IN_BACKWARD):
                            return {"exercise": exercise.id, "call": f"{inner.func.attr}() in backward",
                                    "line": inner.lineno}
    return None


def _job(chosen: List[registry.Exercise], seed: int, timeout: float, memory_mb: int, track: str = "numpy") -> dict:
    """What the worker needs, sent on its stdin: no file of ours is visible in the strong sandbox. Never a
    reference solution: the process that runs learner code must not hold one."""
    from mhaquiz.paths import content_dir, user_home

    return {
        "seed": seed, "timeout": timeout, "memory_mb": memory_mb,
        "checks": {e.id: {"path": str(e.checks_path), "source": e.checks_source} for e in registry.all_exercises()},
        "exercises": [{"id": e.id, "functions": list(e.functions_for(track)), "track": track} for e in chosen],
        "deny_read": [str(user_home()), *(str(content_dir(name)) for name in ("exercises", "solutions", "questions"))],
    }


def _contract(chosen: List[registry.Exercise], plans: Optional[List[Plan]]):
    """What the channel may carry: the chosen exercises' functions and case names (None before the plans)."""
    from mhaquiz.grader.channel import Contract

    if not plans:
        return None
    return Contract(functions={e.id: tuple(e.functions_for(plans[0].track)) for e in chosen},
                    cases={plan.exercise.id: tuple(case.name for case in plan.cases) for plan in plans})


def _measurements(plans: List[Plan], messages) -> List[dict]:
    """Once every case has run: the exercises to measure (each case returned values within tolerance), with
    their memory case and timed calls. Asked while the warden waits, so it only compares."""
    wanted = []
    for plan in plans:
        checks = plan.exercise.checks()
        memory = hasattr(checks, "memory_case")
        perf = hasattr(checks, "perf_case") and plan.track == "numpy"  # the reference is timed in NumPy
        if (memory or perf) and _all_within_tolerance(plan, messages):
            wanted.append({"exercise": plan.exercise.id, "memory": memory, "perf": perf})
            plan.timed = perf
    return wanted


def _time_references(plans: List[Plan]) -> None:
    """The reference's CPU time per call on each timed exercise's perf_case, while the warden times the
    submission (the grader's core is otherwise idle)."""
    from mhaquiz.grader.measure import cpu_seconds_per_call

    for plan in plans:
        if plan.timed:
            try:
                plan.reference_seconds = cpu_seconds_per_call(plan.exercise.reference(),
                                                              plan.exercise.checks().perf_case(plan.seed))
            except Exception:  # noqa: BLE001  (the speed line says it was not measured)
                plan.reference_seconds = None


def _all_within_tolerance(plan: Plan, messages) -> bool:
    from mhaquiz.grader.compare import compare_output

    for case, expected in zip(plan.cases, plan.expected):
        frame = messages.results.get((plan.exercise.id, case.name))
        if frame is None or frame.error is not None or frame.bad_outputs or frame.replaced:
            return False
        scale = Tolerance.scale(expected.values())
        for name, reference in expected.items():
            data = frame.outputs.get(name)
            if data is None or not compare_output(name, data.array(), reference, plan.tolerance, scale).passed:
                return False
    return True


def _plan(exercise: registry.Exercise, seed: int, track: str = "numpy") -> Plan:
    """The exercise's cases, the reference's outputs on them, and its tolerance."""
    from mhaquiz.grader.diagnose import call

    checks = exercise.checks()
    cases = checks.make_cases(seed)
    reference = exercise.reference()
    return Plan(exercise, cases, [call(reference, case) for case in cases], getattr(checks, "TOLERANCE", Tolerance()), seed,
                track)


def _syntax_error(report: GradeReport, error: Exception, path: Path) -> GradeReport:
    line = getattr(error, "lineno", None)
    line = line if isinstance(line, int) else None
    message = str(getattr(error, "msg", None) or error)[:500]
    text = getattr(error, "text", None)
    report.error = {"type": "SyntaxError", "message": message, "line": line, "offset": getattr(error, "offset", None),
                    "text": text.rstrip()[:300] if isinstance(text, str) else None, "traceback": ""}
    report.error["explanation"] = _explanation(report.error)
    report.verdict, report.flags = Verdict.SYNTAX_ERROR, [Verdict.SYNTAX_ERROR]
    report.detail = Message("detail.syntax_error" if line else "detail.syntax_error_noline",
                            {"file": path.name, "line": line or "?", "message": message})
    return report


def _internal_error(report: GradeReport, error: Exception) -> GradeReport:
    report.verdict, report.flags = Verdict.INTERNAL_ERROR, [Verdict.INTERNAL_ERROR]
    report.detail = Message("detail.internal_error", {"error": f"{type(error).__name__}: {error}"[:300]})
    return report


# --- judging -------------------------------------------------------------------------------------------


def judge(report: GradeReport, plans: List[Plan], facts: RunFacts, tree: ast.Module, source: str) -> GradeReport:
    """Turn what the sandbox saw into verdicts: the run's, each case's, each exercise's, then overall."""
    messages = facts.messages
    _learner_paths(messages, facts.workdir, Path(report.file).resolve().parent)
    report.output = safe_text(facts.output.decode("utf-8", errors="replace"))  # like every text from the worker
    report.output_bytes = facts.output_bytes
    report.seconds = facts.elapsed
    report.sandbox = {key: value for key, value in facts.sandbox.items() if key != "setup_failed"}
    report.blocked = list(messages.blocked)

    known = {(plan.exercise.id, case.name) for plan in plans for case in plan.cases}
    corrupt = facts.corrupt
    if corrupt is None and (any(key not in known for key in messages.results)
                            or (messages.running is not None and messages.running not in known)
                            or any(exercise not in {plan.exercise.id for plan in plans}
                                   for exercise in messages.missing)):
        corrupt = "results for a case that does not exist"
    all_reported = all((plan.exercise.id, case.name) in messages.results for plan in plans
                       if plan.exercise.id not in messages.missing for case in plan.cases)
    measuring = facts.timed_out and facts.control.cases is not None and messages.done and all_reported
    run = _run_flags(facts, messages, corrupt, measuring)
    if messages.fatal is not None:
        report.error = {**messages.fatal["error"], "explanation": _explanation(messages.fatal["error"])}
        run[Verdict.SYNTAX_ERROR if messages.fatal["kind"] == "syntax" else Verdict.IMPORT_ERROR] = None

    for plan in plans:
        report.exercises.append(_judge_exercise(plan, facts, messages, run, tree, source, measuring))

    report.run_flags = ranked(run)
    flags = set(run) | {exercise.verdict for exercise in report.exercises}
    report.flags = ranked(flags - {Verdict.PASSED}) or [Verdict.PASSED]
    report.verdict = main(flags)
    report.where = _where(report, report.verdict)
    report.detail = _detail(report, report.verdict, run, corrupt, facts)
    return report


def _learner_paths(messages, workdir: str, folder: Path) -> None:
    """Tracebacks name the submission where the learner keeps it, not where the sandbox put its copy."""
    if not workdir:
        return

    def mapped(text: str) -> str:
        return text.replace(f'"{workdir}/', f'"{folder}/')

    errors = [frame.error for frame in messages.results.values() if frame.error]
    if messages.fatal is not None:
        errors.append(messages.fatal["error"])
    for error in errors:
        error["traceback"] = mapped(error["traceback"])
    for blocked in messages.blocked:
        blocked["where"] = mapped(blocked["where"])


def _run_flags(facts: RunFacts, messages, corrupt: Optional[str], measuring: bool) -> Dict[Verdict, object]:
    """Facts about the whole run, each verdict with what it needs to be explained."""
    run: Dict[Verdict, object] = {}
    if corrupt is not None:
        run[Verdict.CHANNEL_CORRUPTED] = corrupt
    if messages.blocked_count:
        run[Verdict.FORBIDDEN_OPERATION] = messages.blocked[0]["event"] if messages.blocked else "?"
    if facts.timed_out and not measuring:
        run[Verdict.TIME_LIMIT] = "wall"
    if facts.output_limited:
        run[Verdict.OUTPUT_LIMIT] = None
    sig = facts.exit.signal
    stopped = facts.timed_out or facts.output_limited or corrupt is not None
    if sig == signal.SIGXCPU:
        run[Verdict.TIME_LIMIT] = "cpu"
    elif sig and not facts.killed_by_grader and not stopped:
        run[Verdict.CRASHED] = _signal_name(sig)
    elif not messages.done and not stopped and not facts.killed_by_grader:
        run[Verdict.EXITED_EARLY] = facts.exit.code
    if facts.left_processes:
        run[Verdict.LEFT_PROCESSES] = facts.left_processes
    return run


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _judge_exercise(plan: Plan, facts: RunFacts, messages, run: dict, tree, source: str, measuring: bool) -> ExerciseResult:
    from mhaquiz.grader.diagnose import Evidence, diagnose, missing_outputs, precision_finding

    exercise, checks = plan.exercise, plan.exercise.checks()
    result = ExerciseResult(exercise.id, exercise.title, Verdict.PASSED, missing=messages.missing.get(exercise.id, []),
                            tolerance=plan.tolerance)
    if result.missing:
        result.verdict = Verdict.MISSING_FUNCTION
        return result
    stopped_here = main(verdict for verdict in run if verdict in _PROCESS_VERDICTS)
    evidence = []
    for case, expected in zip(plan.cases, plan.expected):
        key = (exercise.id, case.name)
        scale = Tolerance.scale(expected.values())
        frame = messages.results.get(key)
        if frame is None:
            verdict = stopped_here if messages.running == key and stopped_here != Verdict.PASSED else Verdict.NOT_RUN
            result.cases.append(CaseResult(case.name, case.title, case.about, case.shapes, verdict))
            continue
        case_result, submitted = _judge_case(plan, case, expected, frame, scale)
        result.cases.append(case_result)
        failing = {check.name for check in case_result.outputs if not check.passed and check.problem in _mismatch()}
        passing = {check.name for check in case_result.outputs if check.passed and check.name in expected}
        evidence.append(Evidence(case, expected, submitted, failing, scale, _float32_errors(plan, case, expected)
                                 if failing else {}, passing))
    verdicts = {case.verdict for case in result.cases}
    result.verdict = main(verdicts)
    errors = [case.error for case in result.cases if case.error]
    if errors and all(error["type"] == "NotImplementedError" for error in errors) and not any(c.passed for c in result.cases):
        result.verdict = Verdict.NOT_IMPLEMENTED
    if result.passed:
        _check_memory(result, plan, facts, messages, measuring)
        result.efficiency = _efficiency(plan, facts, messages, measuring, tree, source)
    if any(item.failing for item in evidence):
        result.diagnosis = diagnose(exercise, evidence)
        result.heatmap = _heatmap(checks, evidence, result.cases)
    result.diagnosis = missing_outputs(result.cases) + result.diagnosis + precision_finding(result.cases)
    if result.heatmap is None and any(check.problem == "precision" for case in result.cases for check in case.outputs):
        result.heatmap = _heatmap(checks, _precision_evidence(plan, result.cases, messages), result.cases)
    return result


def _mismatch():
    from mhaquiz.grader.compare import MISMATCH_PROBLEMS

    return MISMATCH_PROBLEMS


def _judge_case(plan: Plan, case, expected: Dict, frame, scale: float):
    """The case's verdict and checks; also the submitted arrays (for the diagnosis)."""
    from mhaquiz.grader.compare import OutputCheck, compare_output

    result = CaseResult(case.name, case.title, case.about, case.shapes, Verdict.PASSED, elapsed=frame.elapsed)
    if frame.error:
        result.error = {**frame.error, "explanation": _explanation(frame.error)}
        # A MemoryError is the exception the submission's process raised, not a limit the grader saw hit:
        # a runtime error (its explanation names the limit); memory_limit_exceeded is the measured bound only.
        result.verdict = Verdict.INPUT_MODIFIED if frame.error["input_modified"] else Verdict.RUNTIME_ERROR
        return result, None
    submitted = {name: data.array() for name, data in frame.outputs.items() if name in expected}
    float32 = None
    for name, reference in expected.items():
        if name in frame.bad_outputs:
            kind, _, what = frame.bad_outputs[name].partition(":")
            if kind == "size" and what.isdigit():
                check = OutputCheck(name, False, "too_large", {"size": int(what), "expected": list(reference.shape)})
            else:
                check = OutputCheck(name, False, "type", {"what": what or kind})
            result.outputs.append(check)
            continue
        check = compare_output(name, submitted.get(name), reference, plan.tolerance, scale)
        if check.problem == "values" and check.max_abs_err is not None and check.max_abs_err < float("inf"):
            float32 = float32 if float32 is not None else _float32_errors(plan, case, expected)
            check = compare_output(name, submitted[name], reference, plan.tolerance, scale, float32.get(name))
        result.outputs.append(check)
    if any(check.problem not in (None, "precision") for check in result.outputs):
        for check in result.outputs:  # beside a real mismatch, a small one is collateral, not a float32 slip
            if check.problem == "precision":
                check.problem = "values"
                check.params.pop("rel", None)
    gradcheck = getattr(plan.exercise.checks(), "gradcheck", None)
    if case.gradcheck and gradcheck is not None:
        result.outputs.extend(gradcheck(case, submitted))
    result.replaced_inputs = list(frame.replaced)
    if not all(check.passed for check in result.outputs):
        result.verdict = Verdict.WRONG_ANSWER
    elif result.replaced_inputs:
        result.verdict = Verdict.INPUT_MODIFIED
    return result, submitted


def _float32_errors(plan: Plan, case, expected: Dict) -> Dict[str, float]:
    """Per output, how far the reference lands from its float64 self when run on float32 inputs: the size
    of a float32 slip on this case (an empty dict when the reference cannot run in float32)."""
    import numpy as np

    from mhaquiz.grader.diagnose import call

    try:
        outputs = call(plan.exercise.reference(), case, dtype=np.float32)
    except Exception:  # noqa: BLE001
        return {}
    found = {}
    for name, value in expected.items():
        other = outputs.get(name)
        if other is None or other.shape != value.shape:
            continue
        with np.errstate(all="ignore"):
            diff = np.abs(other - value)
        diff = diff[np.isfinite(diff)]
        found[name] = float(diff.max()) if diff.size else 0.0
    return found


def _explanation(error: dict) -> Optional[Message]:
    from mhaquiz.grader.explain import explain

    return explain(error)


def _heatmap(checks, evidence, cases):
    """The heat map of the worst failing output of the first failing case ('weights' first: they say most)."""
    from mhaquiz.grader import heatmap

    by_name = {case.name: case for case in cases}
    for item in evidence:
        checked = {check.name: check for check in by_name[item.case.name].outputs}
        wrong = [name for name, check in checked.items() if not check.passed and check.problem in
                 ("values", "not_finite", "precision") and item.submitted and name in item.submitted]
        if not wrong:
            continue
        name = "weights" if "weights" in wrong else max(wrong, key=lambda n: checked[n].rel_err or 0.0)
        got, expected = item.submitted[name], item.expected[name]
        custom = getattr(checks, "error_map", None)
        view = custom(item.case, name, got, expected) if custom else None
        focus = (checked[name].worst or {}).get("index")  # the worst element the report names: the map shows its slice
        return heatmap.make(item.case, name, got, expected, item.scale, view, focus=focus)
    return None


def _precision_evidence(plan: Plan, cases, messages):
    from mhaquiz.grader.diagnose import Evidence

    found = []
    for case, expected, result in zip(plan.cases, plan.expected, cases):
        frame = messages.results.get((plan.exercise.id, case.name))
        if frame is None or frame.error:
            continue
        submitted = {name: data.array() for name, data in frame.outputs.items() if name in expected}
        found.append(Evidence(case, expected, submitted, set(), Tolerance.scale(expected.values()), {}))
    return found


def _efficiency(plan: Plan, facts: RunFacts, messages, measuring: bool, tree, source: str):
    """Python loops, and the speed against the reference: the submission's CPU time as the kernel counted it
    for a runner of its own (worker.py), the reference's timed here the same way; the figure is kept only
    when the timed calls returned the right values."""
    from mhaquiz.grader.efficiency import python_loops
    from mhaquiz.grader.report import Efficiency

    exercise, checks = plan.exercise, plan.exercise.checks()
    efficiency = Efficiency()
    if not exercise.meta.get("loops_expected"):
        efficiency.loops = python_loops(tree, source)
    perf = facts.control.perf.get(exercise.id)
    if not hasattr(checks, "perf_case"):
        efficiency.not_measured = Message("efficiency.no_perf_case")
    elif plan.track != "numpy":
        efficiency.not_measured = Message("efficiency.numpy_only")
    elif perf is None:
        efficiency.not_measured = Message("efficiency.out_of_time" if measuring else "efficiency.not_reported")
    elif "skipped" in perf or perf.get("seconds") is None:
        skipped = perf.get("skipped")
        efficiency.not_measured = Message(f"efficiency.skipped_{skipped}" if skipped in ("slow", "raised")
                                          else "efficiency.not_reported", {"seconds": round(perf.get("seconds") or 0.0, 2)})
    else:
        case = checks.perf_case(plan.seed)
        if not _measured_correct(plan, case, messages.measured.get((exercise.id, case.name))):
            efficiency.not_measured = Message("efficiency.wrong_when_timed")
        elif plan.reference_seconds is None:
            efficiency.not_measured = Message("efficiency.not_reported")
        else:
            efficiency.shapes, efficiency.rounds = case.shapes, int(perf.get("rounds") or 1)
            efficiency.submission_seconds = perf["seconds"]
            efficiency.reference_seconds = plan.reference_seconds
    return efficiency


def _measured_correct(plan: Plan, case, frames) -> bool:
    """What every measuring runner's last call returned matches the reference on the same case."""
    from mhaquiz.grader.compare import compare_output
    from mhaquiz.grader.diagnose import call

    if not frames or any(frame.error is not None for frame in frames):
        return False
    expected = call(plan.exercise.reference(), case)
    scale = Tolerance.scale(expected.values())
    return all(name in frame.outputs and compare_output(name, frame.outputs[name].array(), value, plan.tolerance,
                                                        scale).passed
               for frame in frames for name, value in expected.items())


def _reference_peak(plan: Plan, case) -> Optional[int]:
    from mhaquiz.grader.measure import reference_peak

    try:
        return reference_peak(plan.exercise.id, plan.seed)
    except Exception:  # noqa: BLE001  (only shown beside the submission's figure)
        return None


def _check_memory(result: ExerciseResult, plan: Plan, facts: RunFacts, messages, measuring: bool) -> None:
    """For exercises that bound memory (`memory_limit(case)` in checks.py): the peak resident memory of one
    call, as the kernel counted it for a runner that made only that call (worker.py), over the runner's
    resident size at its start; kept only when the call returned the right values."""
    checks = plan.exercise.checks()
    limit_of = getattr(checks, "memory_limit", None)
    if limit_of is None:
        return
    case = checks.memory_case(plan.seed)
    measured = facts.control.memory.get(plan.exercise.id) or {}
    limit = int(limit_of(case))
    peak = measured.get("peak_bytes") if measured.get("code") == 0 else None
    result.memory = {"shapes": case.shapes, "limit": limit, "peak": peak, "reference": _reference_peak(plan, case)}
    if peak is not None and not _measured_correct(plan, case, messages.measured.get((plan.exercise.id, case.name))):
        result.memory["peak"], result.memory["wrong"] = None, True
    if result.memory["peak"] is None or result.memory["peak"] > limit:
        result.memory["passed"] = False
        result.verdict = Verdict.MEMORY_LIMIT
    else:
        result.memory["passed"] = True


# --- the overall verdict in one line ---------------------------------------------------------------------


def _where(report: GradeReport, verdict: Verdict):
    """(exercise, case) of the first case with this verdict, or (exercise, "") for an exercise-level one."""
    for exercise in report.exercises:
        for case in exercise.cases:
            if case.verdict == verdict:
                return exercise.id, case.name
        if exercise.verdict == verdict:
            return exercise.id, ""
    return None


def _detail(report: GradeReport, verdict: Verdict, run: dict, corrupt: Optional[str], facts: RunFacts) -> Optional[Message]:
    if verdict == Verdict.PASSED:
        return None
    exercise_id, case_name = report.where or ("", "")
    exercise = next((e for e in report.exercises if e.id == exercise_id), None)
    case = next((c for c in exercise.cases if c.name == case_name), None) if exercise else None
    at = Message("detail.at_case", {"exercise": exercise_id, "case": case.label}) if case else (
        Message("detail.at_exercise", {"exercise": exercise_id}) if exercise_id else Message("detail.nowhere"))
    params: dict = {"at": at}
    if verdict == Verdict.CHANNEL_CORRUPTED:
        params["reason"] = corrupt or ""
    elif verdict == Verdict.FORBIDDEN_OPERATION:
        params["event"] = run.get(verdict) or "?"
    elif verdict == Verdict.TIME_LIMIT:
        params["seconds"] = f"{report.timeout:g}"
        return Message("detail.time_limit_cpu" if run.get(verdict) == "cpu" else "detail.time_limit_exceeded", params)
    elif verdict == Verdict.MEMORY_LIMIT:
        if exercise is not None and exercise.memory is not None and not case:
            memory = exercise.memory
            if memory.get("peak") is None:
                return Message("detail.memory_wrong" if memory.get("wrong") else "detail.memory_unmeasured", params)
            return Message("detail.memory_peak", {**params, "peak": _mib(memory["peak"]), "limit": _mib(memory["limit"]),
                                                  "shapes": memory["shapes"]})
        params["limit"] = report.memory_mb
    elif verdict == Verdict.OUTPUT_LIMIT:
        params["kib"] = facts.output_bytes // 1024
    elif verdict == Verdict.CRASHED:
        params["signal"] = run.get(verdict)
    elif verdict == Verdict.EXITED_EARLY:
        params["code"] = run.get(verdict)
    elif verdict == Verdict.LEFT_PROCESSES:
        params["count"] = run.get(verdict)
    elif verdict == Verdict.IMPORT_ERROR:
        error = report.error or {}
        params.update(type=error.get("type", ""), message=_one_line(error.get("message", "")))
    elif verdict == Verdict.MISSING_FUNCTION:
        params["functions"] = ", ".join(exercise.missing) if exercise else ""
    elif verdict in (Verdict.RUNTIME_ERROR, Verdict.INPUT_MODIFIED) and case is not None:
        error = case.error or {}
        params.update(type=error.get("type", ""), message=_one_line(error.get("message", "")),
                      inputs=", ".join(case.replaced_inputs))
        if verdict == Verdict.INPUT_MODIFIED and case.replaced_inputs:
            return Message("detail.input_replaced", params)
    elif verdict == Verdict.WRONG_ANSWER and exercise is not None:
        failed = [c for c in exercise.cases if not c.passed]
        params.update(failed=len(failed), total=len(exercise.cases))
    return Message(f"detail.{verdict.value}", params)


def _one_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:300]


def _mib(size) -> str:
    return f"{size / (1024 * 1024):.1f}"
