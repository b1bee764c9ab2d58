"""A grade as data: what happened, with every sentence kept as a catalogue key and its parameters
(`Message`), rendered in the learner's language only when shown (render.py) and language-neutral in JSON.

JSON (`GradeReport.to_json()`): stable ids and English keys; each `Message` as {"key", "params", "text":
{"zh", "en"}}; titles as {"zh", "en"}. It is strict JSON: numbers that are not finite are written as the
strings "nan", "inf" and "-inf"; text from the submission is kept as data, with control characters escaped.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from mhaquiz.grader.spec import Tolerance
from mhaquiz.grader.verdict import Verdict
from mhaquiz.i18n import LANGUAGES, Text, t


@dataclass
class Message:
    """A sentence as a catalogue key and its parameters; parameters may be Text, Verdict or Message."""

    key: str
    params: Dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return t(self.key, lang, **{name: localized(value, lang) for name, value in self.params.items()})

    def to_dict(self) -> dict:
        return {"key": self.key, "params": {name: _neutral(value) for name, value in self.params.items()},
                "text": {lang: self.text(lang) for lang in LANGUAGES}}


def localized(value: Any, lang: str) -> Any:
    """A parameter as shown in `lang`."""
    if isinstance(value, Text):
        return value(lang)
    if isinstance(value, Verdict):
        return t(f"verdict.{value.value}", lang)
    if isinstance(value, Message):
        return value.text(lang)
    return value


def _neutral(value: Any) -> Any:
    if isinstance(value, Text):
        return {lang: value(lang) for lang in LANGUAGES}
    if isinstance(value, Verdict):
        return value.value
    if isinstance(value, Message):
        return value.to_dict()
    return value


@dataclass
class Diagnosis:
    """A mistake the submission's failing outputs match: `matched` of the `failing` (case, output) pairs.

    `mistake` is a mutant's id, or "precision" (float32-sized errors), or "missing_outputs". Two mistakes made
    at once (neither alone reproduces the outputs, the two planted together do) are one Diagnosis whose `pair`
    holds both (id, title), the first of them also as `mistake` and `title`."""

    mistake: str
    title: Text
    outputs: List[str]
    matched: int
    failing: int
    cases: List[str] = field(default_factory=list)
    related: Tuple[str, ...] = ()
    pair: Tuple[Tuple[str, Text], ...] = ()

    def to_dict(self) -> dict:
        data = {"mistake": self.mistake, "title": _neutral(self.title), "outputs": self.outputs,
                "matched": self.matched, "failing": self.failing, "cases": self.cases, "related": list(self.related)}
        if self.pair:
            data["pair"] = [{"mistake": mistake, "title": _neutral(title)} for mistake, title in self.pair]
        return data


@dataclass
class CaseResult:
    name: str
    label: Text
    about: Text
    shapes: str
    verdict: Verdict
    outputs: list = field(default_factory=list)  # compare.OutputCheck
    error: Optional[dict] = None  # channel.error_info, plus "explanation": Message
    replaced_inputs: List[str] = field(default_factory=list)
    elapsed: Optional[float] = None

    @property
    def passed(self) -> bool:
        return self.verdict == Verdict.PASSED

    @property
    def failed_outputs(self) -> list:
        return [check for check in self.outputs if not check.passed]

    def to_dict(self) -> dict:
        data = {"name": self.name, "label": _neutral(self.label), "about": _neutral(self.about), "shapes": self.shapes,
                "verdict": self.verdict.value, "passed": self.passed,
                "outputs": [check.to_dict() for check in self.outputs],
                "outputs_failed": len(self.failed_outputs), "outputs_total": len(self.outputs)}
        if self.error:
            data["error"] = {key: _neutral(value) for key, value in self.error.items()}
        if self.replaced_inputs:
            data["replaced_inputs"] = self.replaced_inputs
        if self.elapsed is not None:
            data["seconds"] = round(self.elapsed, 6)
        return data


@dataclass
class Efficiency:
    """For a correct submission: seconds per call at a larger size against the reference (or why not
    measured), and the Python loops an interviewer would ask about."""

    shapes: str = ""
    submission_seconds: Optional[float] = None
    reference_seconds: Optional[float] = None
    rounds: int = 0
    not_measured: Optional[Message] = None
    loops: List[dict] = field(default_factory=list)  # {"line": n, "code": "for h in range(num_heads):"}

    @property
    def ratio(self) -> Optional[float]:
        if self.submission_seconds is None or not self.reference_seconds:
            return None
        return self.submission_seconds / self.reference_seconds

    def to_dict(self) -> dict:
        return {"shapes": self.shapes, "submission_seconds": self.submission_seconds,
                "reference_seconds": self.reference_seconds, "ratio": self.ratio, "rounds": self.rounds,
                "not_measured": self.not_measured.to_dict() if self.not_measured else None, "loops": self.loops}


@dataclass
class ExerciseResult:
    id: str
    title: Text
    verdict: Verdict
    cases: List[CaseResult] = field(default_factory=list)
    diagnosis: List[Diagnosis] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    efficiency: Optional[Efficiency] = None
    heatmap: Optional[object] = None  # heatmap.Heatmap of the worst wrong output
    memory: Optional[dict] = None  # {"peak", "limit", "reference", "shapes", "passed"} when the exercise measures it
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def passed(self) -> bool:
        return self.verdict == Verdict.PASSED

    @property
    def cases_passed(self) -> int:
        return sum(case.passed for case in self.cases)

    def to_dict(self) -> dict:
        return {"id": self.id, "title": _neutral(self.title), "verdict": self.verdict.value, "passed": self.passed,
                "cases_passed": self.cases_passed, "cases_total": len(self.cases),
                "cases": [case.to_dict() for case in self.cases],
                "diagnosis": [diagnosis.to_dict() for diagnosis in self.diagnosis], "missing_functions": self.missing,
                "efficiency": self.efficiency.to_dict() if self.efficiency else None,
                "heatmap": self.heatmap.to_dict() if self.heatmap else None, "memory": self.memory,
                "tolerance": {"rtol": self.tolerance.rtol, "atol": self.tolerance.atol,
                              "why": _neutral(self.tolerance.why)}}


@dataclass
class GradeReport:
    file: str
    verdict: Verdict
    detail: Optional[Message] = None  # one line saying why, when it did not pass
    where: Optional[Tuple[str, str]] = None  # (exercise, case) the verdict comes from
    flags: List[Verdict] = field(default_factory=list)  # every verdict that holds, in precedence order
    run_flags: List[Verdict] = field(default_factory=list)  # those about the whole run (limits, crashes, ...)
    exercises: List[ExerciseResult] = field(default_factory=list)
    seed: int = 0
    timeout: float = 0.0
    memory_mb: int = 0
    output: str = ""
    output_bytes: int = 0
    error: Optional[dict] = None  # a syntax or import error, with the submission's own frames
    blocked: List[dict] = field(default_factory=list)  # operations the worker's guard refused
    seconds: float = 0.0
    sandbox: dict = field(default_factory=dict)
    track: str = "numpy"  # the language the file is written in: "numpy" or "torch"

    @property
    def passed(self) -> bool:
        return self.verdict == Verdict.PASSED

    def to_dict(self) -> dict:
        return {
            "passed": self.passed, "verdict": self.verdict.value, "verdict_text": _neutral(_verdict_text(self.verdict)),
            "detail": self.detail.to_dict() if self.detail else None,
            "where": {"exercise": self.where[0], "case": self.where[1]} if self.where else None,
            "flags": [flag.value for flag in self.flags], "run_flags": [flag.value for flag in self.run_flags],
            "file": self.file, "track": self.track, "seed": self.seed,
            "timeout": self.timeout, "memory_mb": self.memory_mb, "seconds": round(self.seconds, 3),
            "sandbox": self.sandbox, "exercises": [exercise.to_dict() for exercise in self.exercises],
            "error": {key: _neutral(value) for key, value in self.error.items()} if self.error else None,
            "blocked": self.blocked,
            "output": {"text": self.output, "bytes": self.output_bytes,
                       "truncated": self.output_bytes > len(self.output.encode())},
        }

    def to_json(self) -> str:
        return dumps(self.to_dict())

    def summaries(self):
        """(exercise id, passed, summary) per graded exercise, as the progress store records them: a failure
        of the whole run (a time limit, a forbidden operation) counts against every exercise in it; another
        exercise's failure does not."""
        from mhaquiz.grader.verdict import main

        for exercise in self.exercises:
            total = len(exercise.cases)
            verdict = main({*self.run_flags, exercise.verdict})
            yield exercise.id, verdict == Verdict.PASSED, {
                "verdict": verdict.value, "cases_passed": exercise.cases_passed, "cases_total": total,
                "score": exercise.cases_passed / total if total else 0.0, "file": self.file, "seed": self.seed,
                "mistakes": [diagnosis.mistake for diagnosis in exercise.diagnosis]}


def _verdict_text(verdict: Verdict) -> Text:
    return Text(**{lang: t(f"verdict.{verdict.value}", lang) for lang in LANGUAGES})


# --- strict JSON ------------------------------------------------------------------------------------------

_UNSAFE = re.compile("[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def dumps(data: Any) -> str:
    """Strict JSON (no NaN/Infinity literals: those become "nan", "inf", "-inf"), Chinese kept readable,
    C1 controls and bidirectional overrides escaped so that printing the JSON cannot drive a terminal."""
    text = json.dumps(_finite(data), ensure_ascii=False, indent=2, allow_nan=False)
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return _finite(value.item())
    return value
