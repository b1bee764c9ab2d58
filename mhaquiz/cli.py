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
    """Turn an expected error into one line on stderr (in the learner's language) and its exit code, and
    with --json also one JSON object on stdout; Ctrl-C into 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from mhaquiz.i18n import t

        try:
            return command(*args, **kwargs)
        except MhaquizError as error:
            language = _fallback_language(kwargs.get("lang"))
            if kwargs.get("json_output"):
                from mhaquiz.grader.report import dumps

                sys.stdout.write(dumps({"error": {"key": error.key, "message": error.text("en"),
                                                  "text": {"zh": error.text("zh"), "en": error.text("en")}},
                                        "exit_code": int(error.code)}) + "\n")
            typer.echo(t("error.prefix", language, message=error.text(language)), err=True)
            raise typer.Exit(int(error.code)) from None
        except KeyboardInterrupt:
            typer.echo(t("interrupted", _fallback_language(kwargs.get("lang"))), err=True)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper


def _fallback_language(lang: Optional[str]) -> str:
    """--lang when it is a valid one, else the locale's (the error may be about --lang itself)."""
    from mhaquiz.i18n import LANGUAGES, locale_language

    return lang if lang in LANGUAGES else locale_language()


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
    sandbox: str = typer.Option("auto", envvar="MHAQUIZ_SANDBOX", help="auto (bubblewrap when installed), bwrap (refuse without it) or process."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en. Default: from the locale."),
) -> None:
    """Run FILE in a sandbox and check it against the reference, case by case.

    Example: mhaquiz grade mha.py --exercise mha_backward

    Exit status: 0 every check passed, 1 the submission failed, 2 usage error.
    """
    from mhaquiz.grader.grade import start_grading

    language = _language(lang)
    grading = start_grading(file, exercise_ids=exercise or None, seed=seed, timeout=timeout, memory_mb=memory,
                            sandbox=sandbox)
    report = grading.finish()
    if json_output:
        sys.stdout.write(report.to_json() + "\n")
    else:
        from mhaquiz.console import make_console
        from mhaquiz.grader.render import render

        render(report, make_console(), language)
    _record_grades(report, language)
    raise typer.Exit(int(ExitCode.OK if report.passed else ExitCode.FAILED))


def _record_grades(report, lang: str) -> None:
    """Keep the result in the progress store; a store problem is a warning, never a lost verdict."""
    from mhaquiz.i18n import t
    from mhaquiz.practice import record_report

    try:
        with _open_store(lang, timeout=RECORD_TIMEOUT) as store:
            record_report(store, report)
    except MhaquizError as error:
        typer.echo(t("warning.not_recorded", lang, reason=error.text(lang)), err=True)


def _language(lang: Optional[str]) -> str:
    """`--lang` if given (zh or en), else the locale's language."""
    from mhaquiz.i18n import LANGUAGES, locale_language

    if lang is None:
        return locale_language()
    if lang not in LANGUAGES:
        raise MhaquizError("error.unknown_language", lang=lang, valid=", ".join(LANGUAGES))
    return lang


RECORD_TIMEOUT = 2.0  # seconds to wait for a locked store when recording a grade (then warn)


def _open_store(lang: Optional[str] = None, timeout: Optional[float] = None):
    """The progress store, warning on stderr when an unreadable database file had to be moved aside."""
    from mhaquiz.i18n import t
    from mhaquiz.store import Store

    store = Store.open(timeout=timeout)
    if store.moved_aside is not None:
        typer.echo(t("warning.moved_aside", _fallback_language(lang), path=store.path, moved=store.moved_aside), err=True)
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


# --- the practice loop (core: mhaquiz/practice.py, mhaquiz/interview.py) ---------------------------

DIR_HELP = "Folder for the exercise file <ID>.py. Default: the current directory."


def _interactive() -> bool:
    """Whether we may ask a yes/no question (stdin is a terminal)."""
    return sys.stdin.isatty()


def _confirm(question: str, reason: str, yes: bool) -> bool:
    """True with --yes; else ask in a terminal; piped without --yes is a usage error (nobody to ask)."""
    if yes:
        return True
    if not _interactive():
        raise MhaquizError(f"{reason}; stdin is not a terminal, so I cannot ask: pass --yes to go ahead")
    return typer.confirm(question, default=False)


@app.command("list")
@handle_errors
def list_exercises(
    json_output: bool = typer.Option(False, "--json", help="Print a JSON array on stdout instead of the table."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en. Default: from the locale."),
) -> None:
    """List every exercise in learning order: not started / attempted / passed, and your best result.

    Example: mhaquiz list --json
    """
    from mhaquiz.practice import statuses

    with _open_store() as store:
        rows = statuses(store)
    if json_output:
        import json

        sys.stdout.write(json.dumps([row.to_dict() for row in rows], ensure_ascii=False, indent=2) + "\n")
        return
    from mhaquiz.console import make_console
    from mhaquiz.practice_view import render_list

    render_list(make_console(), rows, _language(lang))


@app.command()
@handle_errors
def start(
    exercise_id: str = typer.Argument(..., metavar="ID", help="The exercise (see `mhaquiz list`)."),
    directory: Path = typer.Option(Path("."), "--dir", help=DIR_HELP),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing <ID>.py with the stub."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en. Default: from the locale."),
) -> None:
    """Write the exercise's stub to DIR/<ID>.py and show its task. Never overwrites without --force.

    Example: mhaquiz start mha_forward --dir ~/practice --lang zh

    Exit status: 0 written, 2 unknown exercise or the file already exists.
    """
    from rich.markdown import Markdown
    from rich.text import Text

    from mhaquiz.console import make_console
    from mhaquiz.i18n import t
    from mhaquiz.practice import start as start_exercise

    language = _language(lang)
    exercise, path = start_exercise(exercise_id, directory, force=force)
    console = make_console()
    prompt = exercise.prompt(language)
    console.print(Markdown(prompt) if console.is_terminal else Text(prompt.rstrip()), soft_wrap=not console.is_terminal)
    console.print()
    console.print(Text(t("start_wrote", language, path=path, id=exercise.id), style="bold"), soft_wrap=not console.is_terminal)


@app.command()
@handle_errors
def hint(
    exercise_id: str = typer.Argument(..., metavar="ID", help="The exercise."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en. Default: from the locale."),
) -> None:
    """Reveal the exercise's next hint (and the ones shown before). Progress is remembered.

    Example: mhaquiz hint mha_forward
    """
    from mhaquiz.console import make_console
    from mhaquiz.practice import reveal_hint, title
    from mhaquiz.practice_view import render_hints

    language = _language(lang)
    with _open_store() as store:
        reveal = reveal_hint(store, exercise_id, language)
    render_hints(make_console(), reveal, title(reveal.exercise, language), language)


@app.command()
@handle_errors
def solution(
    exercise_id: str = typer.Argument(..., metavar="ID", help="The exercise."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Show it even if you have not passed yet, without asking."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en. Default: from the locale."),
) -> None:
    """Show the reference solution, highlighted. Before you pass the exercise it asks first.

    Piped, the source alone goes to stdout: mhaquiz solution ID --yes > reference.py

    Example: mhaquiz solution mha_forward

    Exit status: 0 shown, 1 declined, 2 unknown exercise, or not passed yet and not a terminal without --yes.
    """
    from mhaquiz.console import make_console
    from mhaquiz.grader.exercises import get_exercise
    from mhaquiz.i18n import t
    from mhaquiz.practice import has_passed, solution_source, title
    from mhaquiz.practice_view import render_solution

    language = _language(lang)
    exercise = get_exercise(exercise_id)
    with _open_store() as store:
        passed = has_passed(store, exercise.id)
    if not passed and not _confirm(t("solution_confirm", language, id=exercise.id),
                                f"you have not passed {exercise.id} yet", yes):
        typer.echo(t("cancelled", language), err=True)
        raise typer.Exit(int(ExitCode.FAILED))
    source = solution_source(exercise)
    header = t("solution_header", language, title=title(exercise, language), path=f"solutions/{exercise.id}.py")
    render_solution(make_console(), source, header)


@app.command()
@handle_errors
def reset(
    exercise_id: str = typer.Argument(..., metavar="ID", help="The exercise."),
    directory: Path = typer.Option(Path("."), "--dir", help=DIR_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Overwrite without asking."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en. Default: from the locale."),
) -> None:
    """Rewrite DIR/<ID>.py with the original stub and start the hints again. Your grades are kept.

    Example: mhaquiz reset mha_forward --yes

    Exit status: 0 done, 1 declined, 2 unknown exercise, or not a terminal without --yes.
    """
    from mhaquiz.grader.exercises import get_exercise
    from mhaquiz.i18n import t
    from mhaquiz.practice import exercise_file
    from mhaquiz.practice import reset as reset_exercise

    language = _language(lang)
    path = exercise_file(get_exercise(exercise_id), directory)
    if path.exists() and not _confirm(t("reset_confirm", language, path=path),
                                         f"{path} exists and would be overwritten", yes):
        typer.echo(t("cancelled", language), err=True)
        raise typer.Exit(int(ExitCode.FAILED))
    with _open_store() as store:
        _, path = reset_exercise(store, exercise_id, directory)
    typer.echo(t("reset_done", language, path=path))


@app.command()
@handle_errors
def watch(
    file: Path = typer.Argument(..., help="Your solution file, e.g. mha_forward.py."),
    exercise: Optional[List[str]] = typer.Option(
        None, "--exercise", "-e", help="Exercise id to grade (repeatable). Default: detected, as `grade` does."),
    seed: int = typer.Option(0, help="Seed for the generated test cases."),
    timeout: float = typer.Option(5.0, help="Wall-clock limit in seconds for each run of your code."),
    memory: int = typer.Option(2048, help="Address-space limit for your code, in MiB."),
    stop_after: Optional[float] = typer.Option(
        None, "--stop-after", min=0, help="Stop by itself after this many seconds (for scripts and tests)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en. Default: from the locale."),
) -> None:
    """Grade FILE now and again every time you save it (the screen is cleared first). Ctrl-C stops.

    Each run is recorded like `mhaquiz grade`.

    Example: mhaquiz watch mha_forward.py

    Exit status: 130 stopped with Ctrl-C; with --stop-after, that of the last grade (0 passed, 1 failed);
    2 usage error.
    """
    from datetime import datetime

    from rich.text import Text

    from mhaquiz.console import make_console
    from mhaquiz.grader.exercises import get_exercise
    from mhaquiz.grader.grade import check_limits, grade_file
    from mhaquiz.grader.report import render
    from mhaquiz.i18n import t
    from mhaquiz.practice import watch_file

    language = _language(lang)
    check_limits(timeout, memory)  # up front: a bad limit would otherwise fail every re-grade
    ids = [get_exercise(exercise_id).id for exercise_id in exercise] if exercise else None  # checked once, up front
    if not file.parent.is_dir():
        raise MhaquizError(f"no such directory: {file.parent}")
    console = make_console()
    last = {"passed": False}

    def regrade() -> None:
        if console.is_terminal:
            console.clear()
        else:
            console.print(Text(t("watch_regrading", language, time=datetime.now().strftime("%H:%M:%S"), path=file)))
        if not file.is_file():
            console.print(Text(t("watch_missing", language, path=file), style="yellow"))
            last["passed"] = False
        else:
            try:
                report = grade_file(file, exercise_ids=ids, seed=seed, timeout=timeout, memory_mb=memory)
            except MhaquizError as error:  # not UTF-8 for the moment, say: keep watching
                console.print(Text(f"Error: {error.message}", style="red"))
                last["passed"] = False
            else:
                render(report, console)
                _record_grades(report)
                last["passed"] = report.passed
        console.print(Text(t("watch_watching", language, path=file), style="dim"))

    watch_file(file, regrade, stop_after=stop_after)
    raise typer.Exit(int(ExitCode.OK if last["passed"] else ExitCode.FAILED))


@app.command()
@handle_errors
def interview(
    minutes: float = typer.Option(30.0, "--minutes", "-m", help="Time allowed for the whole interview."),
    questions: int = typer.Option(3, "--questions", "-n", min=0, help="How many conceptual questions."),
    exercise: Optional[str] = typer.Option(
        None, "--exercise", "-e", help="The coding exercise. Default: a seeded pick among those not passed yet."),
    directory: Path = typer.Option(Path("."), "--dir", help="Folder for the exercise file interview_<ID>.py."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en. Default: from the locale."),
    seed: Optional[int] = typer.Option(None, help="Seed for the questions, the exercise picked and its cases."),
    bank: Optional[Path] = typer.Option(None, "--bank", help=BANK_HELP),
) -> None:
    """A timed mock interview: a few conceptual questions, then one coding exercise, then your score.

    The questions (multiple choice and numeric) may take a third of the time; the exercise is written to
    a new file interview_<ID>.py; type `done` when finished (or the time runs out) and it is graded.
    Answers are kept as cram: your review schedule is not changed. With stdin piped, one line per answer.

    Example: mhaquiz interview --minutes 20 --lang zh

    Exit status: 0 finished (whatever the score), 2 usage error, 130 interrupted (answers so far kept).
    """
    from mhaquiz.console import make_console
    from mhaquiz.interview import TimedTerminal, run_interview
    from mhaquiz.quiz.bank import load_bank

    language = _language(lang)
    bank_questions = load_bank(bank).select()
    terminal = TimedTerminal(make_console(), language)
    with _open_store() as store:
        run_interview(store, terminal, bank_questions, minutes=minutes, question_count=questions,
                               directory=directory, exercise_id=exercise, seed=seed)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="mhaquiz")
