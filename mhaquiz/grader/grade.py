"""Grade a submission file: run it in the sandbox, compare with the reference, explain what is wrong."""

from __future__ import annotations

import ast
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from mhaquiz.errors import MhaquizError
from mhaquiz.grader import exercises as registry
from mhaquiz.grader.sandbox import RunOutcome, Sandbox
from mhaquiz.grader.spec import Tolerance

# Verdicts, most severe first: the report's overall verdict is the first that applies.
PASSED = "passed"
SYNTAX_ERROR = "syntax error"
IMPORT_ERROR = "import error"
NO_EXERCISE = "no exercise found"
FORKED = "forked a process"
TIME_LIMIT = "time limit exceeded"
OUTPUT_LIMIT = "output limit exceeded"
MEMORY_LIMIT = "memory limit exceeded"
CRASHED = "crashed"
EXITED_EARLY = "exited early"
CORRUPT = "result channel corrupted"
LEFT_PROCESSES = "left processes running"
MISSING_FUNCTION = "missing function"
RUNTIME_ERROR = "runtime error"
WRONG_ANSWER = "wrong answer"
INPUT_MODIFIED = "input modified"


@dataclass
class CaseResult:
    name: str
    about: str
    shapes: str
    status: str  # "passed", "wrong answer", "runtime error", "input modified", "not run", "time limit exceeded"
    outputs: list = field(default_factory=list)  # OutputCheck
    error: Optional[dict] = None
    modified_inputs: List[str] = field(default_factory=list)
    elapsed: Optional[float] = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_dict(self) -> dict:
        result = {"name": self.name, "about": self.about, "shapes": self.shapes, "passed": self.passed,
                  "status": self.status, "outputs": [check.to_dict() for check in self.outputs]}
        if self.error:
            result["error"] = self.error
        if self.modified_inputs:
            result["modified_inputs"] = self.modified_inputs
        if self.elapsed is not None:
            result["seconds"] = round(self.elapsed, 6)
        return result


@dataclass
class ExerciseResult:
    id: str
    verdict: str
    cases: List[CaseResult] = field(default_factory=list)
    diagnosis: list = field(default_factory=list)  # Diagnosis
    missing: List[str] = field(default_factory=list)
    efficiency: Optional[object] = None  # efficiency.Efficiency, once every case passed
    heatmap: Optional[object] = None  # heatmap.Heatmap of the first wrong output
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    def to_dict(self) -> dict:
        return {"id": self.id, "passed": self.passed, "verdict": self.verdict,
                "cases_passed": sum(case.passed for case in self.cases), "cases": [c.to_dict() for c in self.cases],
                "diagnosis": [d.to_dict() for d in self.diagnosis], "missing_functions": self.missing,
                "efficiency": self.efficiency.to_dict() if self.efficiency else None,
                "heatmap": self.heatmap.to_dict() if self.heatmap else None,
                "tolerance": {"rtol": self.tolerance.rtol, "atol": self.tolerance.atol, "why": self.tolerance.why}}


@dataclass
class GradeReport:
    file: str
    verdict: str
    detail: str = ""  # one line saying why, when it did not pass
    exercises: List[ExerciseResult] = field(default_factory=list)
    seed: int = 0
    timeout: float = 0.0
    output: str = ""
    output_bytes: int = 0
    error: Optional[dict] = None  # a syntax or import error, with the submission's own frames
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    def to_dict(self) -> dict:
        return {
            "passed": self.passed, "verdict": self.verdict, "detail": self.detail, "file": self.file,
            "seed": self.seed, "timeout": self.timeout, "seconds": round(self.seconds, 3),
            "exercises": [exercise.to_dict() for exercise in self.exercises],
            "error": self.error,
            "output": {"text": self.output, "bytes": self.output_bytes, "truncated": self.output_bytes > len(self.output.encode())},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def summaries(self):
        """(exercise id, passed, summary) per graded exercise, as the progress store records them."""
        for exercise in self.exercises:
            total = len(exercise.cases)
            passed_cases = sum(case.passed for case in exercise.cases)
            verdict = self.verdict if exercise.passed else exercise.verdict  # a process-level failure counts too
            yield exercise.id, verdict == PASSED, {
                "verdict": verdict,
                "cases_passed": passed_cases, "cases_total": total,
                "score": passed_cases / total if total else 0.0, "file": self.file, "seed": self.seed}


def grade_file(path: Path, exercise_ids: Optional[List[str]] = None, seed: int = 0,
               timeout: float = 5.0, memory_mb: int = 2048) -> GradeReport:
    """Grade the submission at `path` (usage problems raise MhaquizError; everything else is a verdict)."""
    return start_grading(path, exercise_ids, seed, timeout, memory_mb).finish()


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
        try:
            plans = [(exercise, *_expected(exercise, self.report.seed)) for exercise in self.exercises]
        finally:
            outcome = self.sandbox.collect()  # always: it kills the submission's process group
        return _judge(self.report, plans, outcome, self.tree, self.source)


def check_limits(timeout: float, memory_mb: int) -> None:
    """The sandbox's limits must be positive (a usage error otherwise)."""
    if timeout <= 0 or memory_mb <= 0:
        raise MhaquizError("--timeout and --memory must be positive")


def start_grading(path: Path, exercise_ids: Optional[List[str]] = None, seed: int = 0,
                  timeout: float = 5.0, memory_mb: int = 2048) -> Grading:
    """Check the request, pick the exercises and start the submission's process; `finish()` judges it."""
    path = Path(path)
    if not path.is_file():
        raise MhaquizError(f"no such file: {path}")
    check_limits(timeout, memory_mb)
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise MhaquizError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    chosen = [registry.get_exercise(exercise_id) for exercise_id in exercise_ids] if exercise_ids else None
    report = GradeReport(file=str(path), verdict=PASSED, seed=seed, timeout=timeout)

    try:
        tree = ast.parse(source, filename=path.name)
    except (SyntaxError, ValueError) as error:  # ValueError: a NUL byte, before Python 3.12
        return Grading(_syntax_error(report, error, path))
    if chosen is None:
        chosen = registry.detect(registry.defined_names(tree), file_stem=path.stem)
        if not chosen:
            wanted = "; ".join(f"{e.id}: {', '.join(e.functions)}" for e in registry.all_exercises())
            report.verdict, report.detail = NO_EXERCISE, f"defines none of the exercises' functions ({wanted})"
            return Grading(report)
    # The submission starts first: its start-up overlaps with the grader's own imports and reference runs.
    sandbox = Sandbox(path, [{"id": e.id, "checks": str(e.checks_path), "solution": str(e.solution_path),
                              "functions": list(e.functions)} for e in chosen],
                      seed=seed, timeout=timeout, memory_mb=memory_mb)
    return Grading(report, chosen, sandbox, source, tree)


def _expected(exercise: registry.Exercise, seed: int):
    """The exercise's cases, the reference's outputs on them, and its tolerance."""
    from mhaquiz.grader.diagnose import call

    checks = exercise.checks()
    cases = checks.make_cases(seed)
    reference = exercise.reference()
    return cases, [call(reference, case) for case in cases], getattr(checks, "TOLERANCE", Tolerance())


def _syntax_error(report: GradeReport, error: Exception, path: Path) -> GradeReport:
    line = getattr(error, "lineno", None)
    message = getattr(error, "msg", str(error))
    report.error = {"type": type(error).__name__, "message": message, "line": line,
                    "offset": getattr(error, "offset", None), "text": (getattr(error, "text", None) or "").rstrip()}
    report.verdict = SYNTAX_ERROR
    report.detail = f"{path.name}, line {line}: {message}" if line else f"{path.name}: {message}"
    return report


def _judge(report: GradeReport, plans, outcome: RunOutcome, tree: ast.Module, source: str) -> GradeReport:
    """Turn what the sandbox saw into verdicts, case by case, then overall."""
    import numpy as np

    report.output = outcome.output.decode("utf-8", errors="replace")
    report.output_bytes = outcome.output_bytes
    report.seconds = outcome.elapsed
    received, missing, timings, running, fatal, corrupt = {}, {}, {}, None, None, outcome.corrupt_channel
    for kind, payload in outcome.frames:
        try:
            if kind == b"R":
                with np.load(io.BytesIO(payload), allow_pickle=False) as data:
                    arrays = {name: data[name] for name in data.files}
                meta = json.loads(arrays.pop("meta").tobytes())
                received[(meta["exercise"], meta["case"])] = (meta, arrays)
                running = None
            elif kind == b"S":
                start = json.loads(payload)
                running = (start["exercise"], start["case"])
            elif kind == b"M":
                info = json.loads(payload)
                missing[info["exercise"]] = info["missing"]
            elif kind == b"E":
                fatal = json.loads(payload)
            elif kind == b"P":
                perf = json.loads(payload)
                timings[perf["exercise"]] = perf
        except Exception:  # anything malformed means the channel was tampered with
            corrupt = True

    for exercise, cases, expected, tol in plans:
        result = ExerciseResult(exercise.id, PASSED, missing=missing.get(exercise.id, []), tolerance=tol)
        report.exercises.append(result)
        if result.missing:
            result.verdict = MISSING_FUNCTION
            continue
        submitted, failing = [], []
        for case, reference in zip(cases, expected):
            got = received.get((exercise.id, case.name))
            if got is None:
                status = TIME_LIMIT if outcome.timed_out and running == (exercise.id, case.name) else "not run"
                result.cases.append(CaseResult(case.name, case.about, case.shapes, status))
                submitted.append(None)
                failing.append(set())
                continue
            case_result, outputs = _judge_case(exercise, case, reference, got, tol)
            result.cases.append(case_result)
            submitted.append(outputs)
            failing.append({check.name for check in case_result.outputs
                            if not check.passed and check.problem in ("values", "not finite", "shape")})
        statuses = {case.status for case in result.cases}
        for verdict in (TIME_LIMIT, RUNTIME_ERROR, WRONG_ANSWER, INPUT_MODIFIED, "not run"):
            if verdict in statuses:
                result.verdict = verdict if verdict != "not run" else EXITED_EARLY
                break
        if result.passed:
            result.efficiency = _efficiency(timings.get(exercise.id, {}), tree, source)
        if any(failing):
            from mhaquiz.grader.diagnose import diagnose

            result.heatmap = _first_heatmap(exercise, cases, submitted, expected, failing)

            floors = [tol.floor(reference.values()) for reference in expected]
            result.diagnosis = diagnose(exercise, cases, submitted, failing, tol, floors)
        result.diagnosis[:0] = _missing_outputs(result.cases)

    report.verdict, report.detail = _overall(report, outcome, fatal, corrupt)
    if fatal:
        report.error = fatal["error"]
    return report


def _missing_outputs(cases: List[CaseResult]) -> list:
    """A returned dict without some of the keys asked for is a classic mistake of its own."""
    from mhaquiz.grader.diagnose import Diagnosis

    missing = [check.name for case in cases for check in case.outputs if check.problem == "missing"]
    if not missing:
        return []
    names = sorted(set(missing))
    return [Diagnosis("missing_outputs", f"result has no {', '.join(repr(name) for name in names)}", names,
                      len(missing), len(missing))]


def _first_heatmap(exercise, cases, submitted, expected, failing):
    """The heat map of the first wrong output: the exercise's own view (`error_map`) or a 2-D slice of it."""
    import numpy as np

    from mhaquiz.grader import heatmap

    for case, got, reference, keys in zip(cases, submitted, expected, failing):
        for name in sorted(reference, key=lambda output: output != "weights"):  # attention weights say most
            if name in keys and got.get(name) is not None and got[name].shape == reference[name].shape:
                custom = getattr(exercise.checks(), "error_map", None)
                view = custom(case, name, got[name], reference[name]) if custom else None
                if view is None:
                    view = (heatmap.error_grid(got[name], reference[name]),
                            f"'{name}', first 2-D slice", "second-to-last axis", "last axis")
                grid, caption, rows, cols = view
                return heatmap.make(case.name, name, heatmap.error_grid(grid, np.zeros_like(grid)), caption, rows, cols)
    return None


def _efficiency(timing: dict, tree: ast.Module, source: str):
    from mhaquiz.grader.efficiency import Efficiency, python_loops

    valid = all(isinstance(timing.get(key), (int, float)) and timing[key] > 0 for key in ("submission", "reference"))
    return Efficiency(shapes=str(timing.get("shapes", "")) if valid else "",
                      submission_seconds=timing["submission"] if valid else None,
                      reference_seconds=timing["reference"] if valid else None,
                      loops=python_loops(tree, source))


def _judge_case(exercise, case, reference: Dict, got, tol: Tolerance):
    import numpy as np

    from mhaquiz.grader.compare import OutputCheck, compare_output
    from mhaquiz.grader.spec import flatten_arrays

    meta, arrays = got
    result = CaseResult(case.name, case.about, case.shapes, PASSED, elapsed=meta.get("elapsed"))
    originals = {name.lstrip("."): value for name, value in flatten_arrays(case.args, "").items()
                 if isinstance(value, np.ndarray)}
    result.modified_inputs = [name for name, value in originals.items()
                              if not np.array_equal(arrays.get(f"in/{name}"), value, equal_nan=True)]
    if meta.get("error"):
        result.status, result.error = RUNTIME_ERROR, meta["error"]
        return result, None
    outputs = {name[4:]: value for name, value in arrays.items() if name.startswith("out/")}
    floor = tol.floor(reference.values())
    for name, expected in reference.items():
        if name in meta.get("bad_outputs", {}):
            result.outputs.append(OutputCheck(name, False, "type", f"returned {meta['bad_outputs'][name]}, not a float array"))
        else:
            result.outputs.append(compare_output(name, outputs.get(name), expected, tol, floor))
    extra = getattr(exercise.checks(), "gradcheck", None)
    if case.gradcheck and extra is not None:
        result.outputs.extend(extra(case, outputs))
    if not all(check.passed for check in result.outputs):
        result.status = WRONG_ANSWER
    elif result.modified_inputs:
        result.status = INPUT_MODIFIED
    return result, outputs


def _overall(report: GradeReport, outcome: RunOutcome, fatal, corrupt: bool):
    """The overall verdict and its one-line reason."""
    where = _last_running_case(report)
    if fatal:
        error = fatal["error"]
        verdict = SYNTAX_ERROR if fatal["kind"] == "syntax" else IMPORT_ERROR
        return verdict, f"{error['type']} while importing the file: {error['message']}"
    if outcome.forked:
        return FORKED, "the submission forked a child process; graded code must run in one process"
    if outcome.timed_out:
        return TIME_LIMIT, f"did not finish within {report.timeout:g} s{where}"
    if outcome.output_limited:
        return OUTPUT_LIMIT, f"printed more than {outcome.output_bytes // 1024} KiB{where}"
    errors = [case.error for exercise in report.exercises for case in exercise.cases if case.error]
    if any(error["type"] == "MemoryError" for error in errors):
        return MEMORY_LIMIT, "ran out of memory (limit: --memory MiB of address space)"
    if corrupt:
        return CORRUPT, "the submission wrote to the grader's private result channel"
    if not outcome.finished:
        import signal

        code = outcome.returncode
        if code is not None and code < 0:
            if -code == signal.SIGXCPU:
                return TIME_LIMIT, f"used more than {report.timeout:g} s of CPU time{where}"
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            return CRASHED, f"the process was killed by {name}{where}"
        return EXITED_EARLY, f"the process exited (status {code}) before returning every result{where}"
    if outcome.left_processes:
        return LEFT_PROCESSES, "the submission left processes running after it finished"
    for exercise in report.exercises:
        if not exercise.passed:
            failed = [case for case in exercise.cases if not case.passed]
            first = f": case '{failed[0].name}'" if failed else ""
            if exercise.verdict == MISSING_FUNCTION:
                return MISSING_FUNCTION, f"{exercise.id} needs {', '.join(exercise.missing)}, which the file does not define"
            if failed and all(case.error and case.error["type"] == "NotImplementedError" for case in failed):
                return exercise.verdict, f"{exercise.id} is not implemented yet (it raises NotImplementedError)"
            return exercise.verdict, f"{exercise.id}: {len(failed)} of {len(exercise.cases)} cases failed{first}"
    return PASSED, ""


def _last_running_case(report: GradeReport) -> str:
    for exercise in report.exercises:
        for case in exercise.cases:
            if case.status in (TIME_LIMIT, "not run"):
                return f" (in {exercise.id}, case '{case.name}')"
    return ""
