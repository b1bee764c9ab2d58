"""The command line: a thin layer that parses options, calls the core, and maps errors to exit codes.

Heavy modules (numpy, yaml, rich tables, the grader) are imported inside the commands that use them,
so `mhaquiz --help` stays fast.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer

from mhaquiz import __version__
from mhaquiz.errors import ExitCode, MhaquizError

app = typer.Typer(
    name="mhaquiz",
    help="Practise the multi-head-attention part of an ML interview.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def handle_errors(command: Callable) -> Callable:
    """Turn an expected error into one line on stderr and its exit code; Ctrl-C into 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MhaquizError as error:
            typer.echo(f"Error: {error.message}", err=True)
            raise typer.Exit(int(error.code)) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mhaquiz {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Practise the multi-head-attention part of an ML interview.

    Exit status: 0 success, 1 a checked thing failed, 2 usage error, 130 interrupted.
    """


@app.command()
@handle_errors
def grade(
    file: Path = typer.Argument(..., help="Your NumPy solution, e.g. mha.py."),
    exercise: Optional[List[str]] = typer.Option(
        None, "--exercise", "-e", help="Exercise id to grade (repeatable). Default: detected from the functions FILE defines."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document on stdout instead of the report."),
    seed: int = typer.Option(0, help="Seed for the generated test cases."),
    timeout: float = typer.Option(5.0, help="Wall-clock limit in seconds for running your code."),
    memory: int = typer.Option(2048, help="Address-space limit for your code, in MiB."),
) -> None:
    """Run FILE in a sandbox and check it against the reference, case by case.

    Example: mhaquiz grade mha.py --exercise mha_backward

    Exit status: 0 every check passed, 1 the submission failed, 2 usage error.
    """
    from mhaquiz.grader.grade import grade_file

    report = grade_file(file, exercise_ids=exercise or None, seed=seed, timeout=timeout, memory_mb=memory)
    if json_output:
        sys.stdout.write(report.to_json() + "\n")
    else:
        from mhaquiz.console import make_console
        from mhaquiz.grader.report import render

        render(report, make_console())
    raise typer.Exit(int(ExitCode.OK if report.passed else ExitCode.FAILED))


def main() -> None:
    """Console-script entry point."""
    app(prog_name="mhaquiz")
