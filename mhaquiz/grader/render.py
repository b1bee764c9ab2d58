"""A GradeReport for people, in the learner's language: a row per case, then what failed and why.

Every sentence comes from the message catalogues; everything the submission controls (its output, exception
messages, quoted lines, names) goes through `safe()` and is printed as plain rich Text, never as markup: it
cannot change colours, move the cursor, set the title, or draw a line that looks like ours.
"""

from __future__ import annotations

import re
from typing import List

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mhaquiz.grader import heatmap as heatmaps
from mhaquiz.grader.report import ExerciseResult, GradeReport, localized
from mhaquiz.grader.verdict import Verdict
from mhaquiz.i18n import t

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
MAX_ERRORS_SHOWN = 5  # distinct exceptions printed in full (each once, with every case that raised it)
MAX_LOOPS_SHOWN = 5
SMALL_MISS = 1e5  # an output whose worst element misses its tolerance by at most this factor gets the tolerance stated


def safe(text: str) -> str:
    """Text from the submission with control characters, escape sequences and bidirectional overrides made
    visible (ESC becomes \\x1b): printed, it reads as what it is and does nothing to the terminal."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}" if ord(match.group()) < 0x100
                        else f"\\u{ord(match.group()):04x}", text)


def _number(value) -> str:
    return "" if value is None else f"{value:.2e}"


def render(report: GradeReport, console: Console, lang: str) -> None:
    for exercise in report.exercises:
        _exercise(report, exercise, console, lang)
    if report.error:
        console.print(Text(t("report.import_error", lang) if report.verdict != Verdict.SYNTAX_ERROR
                           else t("report.syntax_error", lang), style="red"))
        _error(report.error, console, lang)
    for blocked in report.blocked:
        console.print(Text(t("report.blocked", lang, event=safe(blocked["event"])), style="red"))
        if blocked.get("where"):
            console.print(Text(safe(blocked["where"].rstrip())))
    if report.output_bytes:
        shown = len(report.output.encode())
        key = "report.output_truncated" if shown < report.output_bytes else "report.output"
        console.print(Text(t(key, lang, bytes=report.output_bytes, shown=shown), style="dim"))
        # indented under its heading: a printed 'PASSED' line can never be taken for the verdict
        console.print(Text("\n".join("  │ " + line for line in safe(report.output.rstrip()).split("\n"))), soft_wrap=True)
    _sandbox(report, console, lang)
    if report.passed:
        console.print(Text(t("report.passed", lang, exercises=", ".join(e.id for e in report.exercises), seed=report.seed),
                           style="bold green"))
    else:
        key = "report.failed_detail" if report.detail is not None else "report.failed"
        line = Text(t(key, lang, verdict=t(f"verdict.{report.verdict.value}", lang)), style="bold red")
        if report.detail is not None:
            line.append(safe(report.detail.text(lang)))
        console.print(line)


def _exercise(report: GradeReport, exercise: ExerciseResult, console: Console, lang: str) -> None:
    header = Text(safe(report.file), style="bold")
    header.append(f" · {exercise.id} · {exercise.title(lang)} · ")
    # every case right but the exercise failed (a memory bound, say): the count must not read as success
    all_right = bool(exercise.cases) and exercise.cases_passed == len(exercise.cases) and not exercise.passed
    header.append(t("report.cases_passed_not_done" if all_right else "report.cases_passed", lang,
                    passed=exercise.cases_passed, total=len(exercise.cases)))
    console.print(header)
    if exercise.missing:
        console.print(Text(t("report.missing", lang, functions=", ".join(exercise.missing)), style="red"))
    if exercise.cases:
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column(t("report.col_case", lang), max_width=24)
        table.add_column(t("report.col_shapes", lang), max_width=30)
        for key in ("report.col_abs", "report.col_rel"):
            table.add_column(t(key, lang), justify="right", no_wrap=True)
        table.add_column(t("report.col_result", lang))
        for case in exercise.cases:
            worst = max(case.outputs, key=lambda check: (not check.passed, check.max_abs_err or 0.0), default=None)
            table.add_row(Text(case.label(lang)), Text(case.shapes), _number(worst and worst.max_abs_err),
                          _number(worst and worst.rel_err), _result(case, lang))
        console.print(table)
    _first_failure(exercise, console, lang)
    _raised(exercise, console, lang)
    for diagnosis in exercise.diagnosis:
        line = Text(t("report.looks_like_pair" if diagnosis.pair else "report.looks_like", lang), style="yellow")
        for number, title in enumerate([title for _, title in diagnosis.pair] or [diagnosis.title]):
            if number:
                line.append(t("report.pair_and", lang), style="yellow")
            line.append(title(lang), style="bold")
        line.append(t("report.matches", lang, matched=diagnosis.matched, failing=diagnosis.failing,
                            outputs=", ".join(safe(name) for name in diagnosis.outputs)), style="dim")
        console.print(line)
        if diagnosis.mistake == "precision":
            console.print(Text("  " + t("report.precision_hint", lang)))
    if exercise.heatmap is not None:
        _heatmap(exercise.heatmap, console, lang)
    if exercise.memory is not None:
        _memory(exercise.memory, console, lang)
    if exercise.efficiency is not None:
        _efficiency(exercise.efficiency, console, lang)
    if _near_miss(exercise):
        tol = exercise.tolerance
        console.print(Text(t("report.tolerance", lang, atol=f"{tol.atol:g}", rtol=f"{tol.rtol:g}", why=tol.why(lang)),
                           style="dim"))
    console.print()


def _near_miss(exercise: ExerciseResult) -> bool:
    """Whether an output misses its tolerance by a small amount (the tolerance is then worth stating)."""
    for case in exercise.cases:
        for check in case.outputs:
            if check.passed or check.problem not in ("values", "precision") or not check.worst:
                continue
            worst = check.worst
            if check.problem == "precision" or abs(worst["got"] - worst["expected"]) <= SMALL_MISS * worst["allowed"]:
                return True
    return False


def _result(case, lang: str) -> Text:
    if case.passed:
        return Text(t("verdict_short.passed", lang), style="green")
    text = Text(t(f"verdict_short.{case.verdict.value}", lang), style="red")
    failed = case.failed_outputs
    if failed:
        text.append(t("report.outputs_failed", lang, failed=len(failed), total=len(case.outputs)), style="red")
    return text


def _first_failure(exercise: ExerciseResult, console: Console, lang: str) -> None:
    for case in exercise.cases:
        for check in case.outputs:
            if check.passed:
                continue
            line = Text(t("report.first_failure", lang), style="red")
            line.append(t("report.where_output", lang, case=case.label(lang), about=case.about(lang), output=safe(check.name)))
            line.append(t(f"problem.{check.problem}", lang, **{k: localized(v, lang) for k, v in check.params.items()}))
            console.print(line)
            if check.worst is not None:
                worst = check.worst
                console.print(Text("  " + t("report.worst", lang, index=worst["index"], expected=_value(worst["expected"]),
                                          got=_value(worst["got"]), allowed=f"{worst['allowed']:.1e}")))
            return
        if case.replaced_inputs:
            console.print(Text(t("report.first_failure", lang) + t(
                "report.inputs_replaced", lang, case=case.label(lang), inputs=", ".join(case.replaced_inputs)), style="red"))
            return


def _value(value: float) -> str:
    return repr(value) if value == value and abs(value) != float("inf") else str(value)


def _raised(exercise: ExerciseResult, console: Console, lang: str) -> None:
    """Every case that raised: each distinct traceback once, with the cases it came from (their messages may
    differ by the shapes they name: each distinct one is shown, the explanation once)."""
    groups: List[tuple] = []
    for case in exercise.cases:
        if not case.error:
            continue
        traceback = case.error.get("traceback", "")
        key = (case.error["type"], traceback) if traceback else (case.error["type"], case.error["message"])
        for group in groups:
            if group[0] == key:
                group[1].append(case)
                break
        else:
            groups.append((key, [case]))
    for (_, cases), shown in zip(groups, range(MAX_ERRORS_SHOWN)):
        names = t("report.separator", lang).join(t("report.quoted", lang, name=case.label(lang)) for case in cases)
        console.print(Text(t("report.raised", lang, cases=names), style="red"))
        _error(cases[0].error, console, lang)
        shown_messages = {cases[0].error.get("message")}
        for case in cases[1:]:
            if case.error.get("message") not in shown_messages:
                shown_messages.add(case.error.get("message"))
                line = Text(t("report.case_message", lang, case=case.label(lang)), style="dim")
                line.append(safe(case.error["type"]) + ": " + safe(case.error.get("message") or ""), style="red")
                console.print(line)
    if len(groups) > MAX_ERRORS_SHOWN:
        console.print(Text(t("report.more_errors", lang, count=len(groups) - MAX_ERRORS_SHOWN), style="dim"))


def _error(error: dict, console: Console, lang: str) -> None:
    if error.get("traceback"):
        console.print(Text(safe(error["traceback"].rstrip())))
    if error.get("line") and error.get("text"):
        console.print(Text(t("report.line", lang, line=error["line"]) + safe(error["text"])))
    line = Text(safe(error["type"]), style="red")
    line.append(": " + safe(error.get("message") or ""))
    console.print(line)
    explanation = error.get("explanation")
    if explanation is not None:
        console.print(Text("  → " + explanation.text(lang), style="yellow"))


def _heatmap(heatmap, console: Console, lang: str) -> None:
    where = ", ".join(f"{_axis(axis, lang)} {index}" for axis, index in heatmap.where)
    view = heatmap.view(lang) if heatmap.view is not None else t("heatmap.output", lang, output=safe(heatmap.output))
    # NaN/inf are drawn at full strength, so they are the largest error whenever present.
    top = "NaN/inf" if heatmap.nonfinite or not heatmap.top else f"{heatmap.top:.2e}"
    caption = t("heatmap.title_where" if where else "heatmap.title", lang, case=heatmap.case_label(lang),
                view=view, where=where, rows=_axis(heatmap.rows, lang), cols=_axis(heatmap.cols, lang), top=top)
    console.print(Text(caption, style="bold"))
    if heatmap.nonfinite:
        console.print(Text("  " + t("heatmap.nonfinite", lang, count=heatmap.nonfinite), style="red"))
    if heatmap.largest_got is not None:
        console.print(Text("  " + t("heatmap.huge", lang, value=f"{heatmap.largest_got:.2e}", scale=f"{heatmap.scale:.2e}"),
                           style="red"))
    for row in heatmaps.shade_rows(heatmap):
        line = Text("  |")
        for shade, strong in row:
            line.append(shade, style="red" if strong else "")
        line.append("|")
        console.print(line)


def _axis(axis: str, lang: str) -> str:
    if axis.startswith("axis.") and axis[5:].isdigit():
        return t("axis.number", lang, n=int(axis[5:]))
    return t(axis, lang)


def _memory(memory: dict, console: Console, lang: str) -> None:
    if memory.get("peak") is None:
        key = "report.memory_wrong" if memory.get("wrong") else "report.memory_unmeasured"
        console.print(Text(t(key, lang), style="red"))
        return
    key = "report.memory_ok" if memory["passed"] else "report.memory_over"
    console.print(Text(t(key, lang, peak=f"{memory['peak'] / 2**20:.2f}", limit=f"{memory['limit'] / 2**20:.2f}",
                         reference=f"{(memory.get('reference') or 0) / 2**20:.2f}", shapes=memory["shapes"]),
                       style="" if memory["passed"] else "red"))


def _efficiency(efficiency, console: Console, lang: str) -> None:
    if efficiency.ratio is not None:
        console.print(Text(t("report.speed", lang, ratio=f"{efficiency.ratio:.2f}", shapes=efficiency.shapes,
                             mine=f"{efficiency.submission_seconds * 1000:.2f}",
                             reference=f"{efficiency.reference_seconds * 1000:.2f}")))
    elif efficiency.not_measured is not None:
        console.print(Text(t("report.speed_not_measured", lang, why=efficiency.not_measured.text(lang)), style="dim"))
    if efficiency.loops:
        console.print(Text(t("report.loops", lang), style="yellow"))
        for loop in efficiency.loops[:MAX_LOOPS_SHOWN]:
            console.print(Text("  " + t("report.line", lang, line=loop["line"]) + safe(loop["code"])))


def _sandbox(report: GradeReport, console: Console, lang: str) -> None:
    sandbox = report.sandbox
    if not sandbox:
        return
    if sandbox.get("engine") == "bwrap":
        text = t("report.sandbox_bwrap", lang, version=sandbox.get("version") or "?")
    else:
        text = t("report.sandbox_process", lang, reason=safe(sandbox.get("reason") or ""))
    console.print(Text(text, style="dim"))
    if sandbox.get("engine") != "bwrap" and not sandbox.get("landlock"):  # the kernel confines nothing here
        console.print(Text(t("report.sandbox_hook_only", lang), style="bold yellow"))
