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
    _record_grades(report)
    raise typer.Exit(int(ExitCode.OK if report.passed else ExitCode.FAILED))


def _record_grades(report) -> None:
    """Keep the result in the progress store; a store problem is a warning, never a lost verdict."""
    try:
        with _open_store() as store:
            for exercise_id, passed, summary in report.summaries():
                store.record_grade(exercise_id, passed, summary)
    except MhaquizError as error:
        typer.echo(f"Warning: result not recorded: {error.message}", err=True)


def _language(lang: Optional[str]) -> str:
    """`--lang` if given (zh or en), else the locale's language."""
    from mhaquiz.i18n import LANGUAGES, locale_language

    if lang is None:
        return locale_language()
    if lang not in LANGUAGES:
        raise MhaquizError(f"unknown language {lang!r}; valid: {', '.join(LANGUAGES)}")
    return lang


def _open_store():
    """The progress store, warning on stderr when an unreadable database file had to be moved aside."""
    from mhaquiz.store import Store

    store = Store.open()
    if store.moved_aside is not None:
        typer.echo(
            f"Warning: {store.path} was not a readable mhaquiz database; moved it to {store.moved_aside} and started afresh.",
            err=True,
        )
    return store


BANK_HELP = "A .yaml file or a folder of them to use instead of the built-in question bank."


@app.command()
@handle_errors
def ask(
    count: int = typer.Option(10, "--count", "-n", min=1, help="Most questions to ask this session."),
    topic: Optional[str] = typer.Option(None, "--topic", "-t", help="Only this topic (see `mhaquiz questions`)."),
    difficulty: Optional[str] = typer.Option(None, "--difficulty", "-d", help="Only easy, medium or hard questions."),
    seed: Optional[int] = typer.Option(None, help="Seed for the numbers drawn in generated questions (and cram order)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en. Default: from the locale (zh for zh_*)."),
    cram: bool = typer.Option(False, "--cram", help="Practise any question now, without changing the schedule."),
    bank: Optional[Path] = typer.Option(None, "--bank", help=BANK_HELP),
) -> None:
    """Answer questions: the due ones first, then new ones. Every answer is saved as it is given.

    Multiple-choice and numeric answers are marked at once; for an open question you see the reference
    and rate yourself Again / Hard / Good / Easy. With stdin piped, one answer per line.

    Example: mhaquiz ask --topic masking --count 5 --lang zh

    Exit status: 0 done (or input ended), 2 usage error, 130 interrupted (answers so far are kept).
    """
    from mhaquiz.console import make_console
    from mhaquiz.quiz.bank import load_bank
    from mhaquiz.quiz.session import Session, summarize
    from mhaquiz.quiz.ui import Terminal

    language = _language(lang)
    questions = load_bank(bank).select(topic, difficulty)
    terminal = Terminal(make_console(), language)
    with _open_store() as store:
        result = Session(store, terminal, cram=cram, seed=seed).run(questions, count)
        summarize(result, terminal, str(store.path))
    if result.interrupted:
        raise KeyboardInterrupt


@app.command("questions")
@handle_errors
def list_questions(
    topic: Optional[str] = typer.Option(None, "--topic", "-t", help="Only this topic."),
    bank: Optional[Path] = typer.Option(None, "--bank", help=BANK_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON array on stdout instead of the table."),
) -> None:
    """List the question bank (and check it: a broken bank exits 2 naming each file and line).

    Example: mhaquiz questions --topic masking --json
    """
    from mhaquiz.quiz.bank import load_bank

    selected = load_bank(bank).select(topic)
    if json_output:
        import json

        sys.stdout.write(json.dumps([q.summary() for q in selected], ensure_ascii=False, indent=2) + "\n")
        return
    from mhaquiz.console import make_console
    from mhaquiz.quiz.report import render_questions

    render_questions(make_console(), selected, _language(None))


@app.command()
@handle_errors
def stats(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object on stdout instead of the report."),
    bank: Optional[Path] = typer.Option(None, "--bank", help=BANK_HELP),
) -> None:
    """Show your progress: answers, accuracy, mastery per topic, what is due, leeches, exercises.

    Example: mhaquiz stats --json
    """
    from datetime import datetime, timezone

    from mhaquiz.quiz.bank import load_bank
    from mhaquiz.quiz.stats import collect_stats

    loaded = load_bank(bank)
    with _open_store() as store:
        report = collect_stats(store, loaded, datetime.now(timezone.utc))
    if json_output:
        import json

        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        return
    from mhaquiz.console import make_console
    from mhaquiz.quiz.report import render_stats

    render_stats(make_console(), report, _language(None))


def main() -> None:
    """Console-script entry point."""
    app(prog_name="mhaquiz")
