"""Render a GradeReport for people: a row per case, then the first failure and the likely mistake."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mhaquiz.grader.grade import PASSED, GradeReport


_SHORT = {"wrong answer": "wrong", "runtime error": "error", "time limit exceeded": "timeout",
          "input modified": "modified input"}  # case verdicts, short enough for an 80-column table


def _number(value) -> str:
    return "" if value is None else f"{value:.2e}"


def render(report: GradeReport, console: Console) -> None:
    for exercise in report.exercises:
        passed = sum(case.passed for case in exercise.cases)
        console.print(f"[bold]{escape(report.file)}[/] · [bold]{exercise.id}[/] · "
                      f"{passed}/{len(exercise.cases)} cases passed")
        if exercise.cases:
            table = Table(box=None, pad_edge=False, header_style="bold")
            table.add_column("case", max_width=20)
            table.add_column("shapes", max_width=30)  # long shapes wrap rather than push the numbers off
            for column in ("max abs err", "rel err"):
                table.add_column(column, justify="right", no_wrap=True)
            table.add_column("result", no_wrap=True)
            for case in exercise.cases:
                worst = max(case.outputs, key=lambda c: (not c.passed, c.max_abs_err or 0), default=None)
                failed = [check.name for check in case.outputs if not check.passed]
                result = "[green]pass[/]" if case.passed else f"[red]{_SHORT.get(case.status, case.status)}[/]"
                if failed and len(case.outputs) > 1:
                    result += f" [dim]{len(failed)}/{len(case.outputs)}[/]"
                if case.modified_inputs:
                    result += f" [yellow]modified {escape(', '.join(case.modified_inputs))}[/]"
                table.add_row(escape(case.name), case.shapes, _number(worst and worst.max_abs_err),
                              _number(worst and worst.rel_err), result)
            console.print(table)
        _first_failure(exercise, console)
        for diagnosis in exercise.diagnosis:
            console.print(f"[yellow]Looks like:[/] {escape(diagnosis.title)} [dim](matches {diagnosis.matched} of "
                          f"{diagnosis.failing} failing outputs: {escape(', '.join(diagnosis.outputs))})[/]")
        if exercise.heatmap is not None:
            from mhaquiz.grader import heatmap

            heatmap.render(exercise.heatmap, console)
        if exercise.efficiency is not None:
            _efficiency(exercise.efficiency, console)
        if exercise.cases:
            tol = exercise.tolerance
            console.print(f"[dim]Tolerance: |got - expected| <= {tol.atol:g} * scale + {tol.rtol:g} * |expected|, scale = "
                          f"the case's largest expected value ({escape(tol.why)}).[/]")
        console.print()

    if report.error:
        _error(report.error, console)
    if report.output_bytes:
        shown = len(report.output.encode())
        more = f", first {shown} shown" if shown < report.output_bytes else ""
        console.print(f"[dim]Your code printed {report.output_bytes} bytes{more}:[/]")
        console.print(escape(report.output.rstrip()), markup=True, highlight=False)
    if report.verdict == PASSED:
        console.print(f"[bold green]PASSED[/] {', '.join(e.id for e in report.exercises)} (seed {report.seed})")
    else:
        console.print(f"[bold red]FAILED: {report.verdict}[/] - {escape(report.detail)}")


def _efficiency(efficiency, console: Console) -> None:
    if efficiency.ratio is not None:
        console.print(f"Speed: {efficiency.ratio:.2f}x the reference's time per call at {efficiency.shapes} "
                      f"({efficiency.submission_seconds * 1000:.2f} ms vs {efficiency.reference_seconds * 1000:.2f} ms).")
    if efficiency.loops:
        console.print("[yellow]Python loops[/] (interviewers expect batched matmuls and broadcasting over batch, "
                      "heads and positions):")
        for loop in efficiency.loops[:5]:
            console.print(f"  line {loop['line']}: {escape(loop['code'])}", highlight=False)


def _first_failure(exercise, console: Console) -> None:
    for case in exercise.cases:
        if case.error:
            console.print(f"[red]First failure:[/] case '{escape(case.name)}' ({escape(case.about)}) raised:")
            _error(case.error, console)
            return
        for check in case.outputs:
            if not check.passed:
                where = f"case '{escape(case.name)}' ({escape(case.about)}), output '{escape(check.name)}'"
                console.print(f"[red]First failure:[/] {where}: {escape(check.detail)}")
                if check.worst_index is not None or check.expected_value is not None:
                    index = "" if check.worst_index is None else f" at index {list(check.worst_index)}"
                    console.print(f"  worst element{index}: expected {check.expected_value!r}, got {check.got_value!r}")
                return
        if case.modified_inputs:
            console.print(f"[red]First failure:[/] case '{escape(case.name)}': your function modified its input(s) "
                          f"{escape(', '.join(case.modified_inputs))} in place; the caller's data is destroyed.")
            return


def _error(error: dict, console: Console) -> None:
    if error.get("traceback"):
        console.print(escape(error["traceback"].rstrip()), highlight=False)
    if error.get("line") and error.get("text") is not None:
        console.print(f"  line {error['line']}: {escape(error['text'])}")
    console.print(f"[red]{escape(error['type'])}[/]: {escape(error['message'])}")
