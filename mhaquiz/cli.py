"""The command line: a thin layer that parses options, calls the core, and maps errors to exit codes.

Heavy modules (numpy, yaml, rich tables, the grader) are imported inside the commands that use them, so
`mhaquiz --help` stays fast. Every text the learner reads comes from the message catalogues, in the language
`--lang` or the locale asks for; `--help` follows the locale (typer builds it before options are read).
"""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer

from mhaquiz import __version__
from mhaquiz.errors import ExitCode, MhaquizError
from mhaquiz.i18n import locale_language, t

HELP_LANG = locale_language()
_HELP_KEYS: dict = {}  # help text (in HELP_LANG) -> its catalogue key, to show help in another --lang
_SESSION = {"lang": HELP_LANG, "root_lang": None}  # this run's language; --lang given before the command


def H(key: str) -> str:
    """A help text from the catalogue of the locale's language."""
    text = t(f"help.{key}", HELP_LANG)
    _HELP_KEYS.setdefault(text, f"help.{key}")
    return text


def _lang_in(args: List[str]) -> Optional[str]:
    """The language a --lang among the arguments asks for (before or after the command), if valid."""
    from mhaquiz.i18n import LANGUAGES

    for index, arg in enumerate(args):
        value = args[index + 1] if arg == "--lang" and index + 1 < len(args) else arg[7:] if arg.startswith("--lang=") else None
        if value in LANGUAGES:
            return value
    return None


class _Localized:
    """typer's own words (usage, errors, the help option, panel titles) in the session's language."""

    def get_usage(self, ctx) -> str:
        usage, word = super().get_usage(ctx), t("typer.usage", _SESSION["lang"])
        return usage.replace("Usage: ", word if word.endswith("：") else word + " ", 1)

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = t("typer.help_option", _SESSION["lang"])
        return option

    def format_help(self, ctx, formatter) -> None:
        _localize_typer(_SESSION["lang"])
        return super().format_help(ctx, formatter)

    def make_context(self, info_name, args, parent=None, **extra):
        with _translated_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with _translated_errors():
            return super().invoke(ctx)


class LocalizedCommand(_Localized, typer.core.TyperCommand):
    pass


class LocalizedGroup(_Localized, typer.core.TyperGroup):
    def main(self, args=None, *rest, **extra):
        arguments = list(sys.argv[1:] if args is None else args)
        _SESSION.update(lang=_lang_in(arguments) or locale_language(), root_lang=None)
        if _SESSION["lang"] != HELP_LANG:
            _retranslate_help(self, _SESSION["lang"])
        return super().main(args, *rest, **extra)


class _translated_errors:
    """A usage error from typer (no such command, a missing argument, a value out of range) with its message
    in the session's language."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        # typer's usage errors (click's ClickException, vendored or not): they have a message and an exit code
        if hasattr(error, "format_message") and hasattr(error, "exit_code") \
                and not getattr(error, "_mhaquiz_translated", False):
            from mhaquiz.locales.typer_messages import translate

            message = translate(error.format_message(), _SESSION["lang"])
            error.format_message = lambda: message
            error._mhaquiz_translated = True
            _localize_typer(_SESSION["lang"])
        return False


def _retranslate_help(command, lang: str) -> None:
    """Every help text of `command` and its sub-commands in `lang` (they were built in HELP_LANG)."""
    for attribute in ("help", "short_help"):
        key = _HELP_KEYS.get(getattr(command, attribute, None))
        if key:
            setattr(command, attribute, t(key, lang))
    for param in getattr(command, "params", []):
        key = _HELP_KEYS.get(getattr(param, "help", None))
        if key:
            param.help = t(key, lang)
    for sub in getattr(command, "commands", {}).values():
        _retranslate_help(sub, lang)


_TYPER_WORDS = ("OPTIONS_PANEL_TITLE", "COMMANDS_PANEL_TITLE", "ARGUMENTS_PANEL_TITLE", "ERRORS_PANEL_TITLE",
                "ABORTED_TEXT", "RICH_HELP", "DEFAULT_STRING", "REQUIRED_LONG_STRING", "ENVVAR_STRING")


def _localize_typer(lang: str) -> None:
    """typer's help and error words (panel titles, the usage hint) in `lang`; rich's line breaking taught
    Chinese, for the help and errors typer prints with its own consoles."""
    import typer.rich_utils as rich_utils

    from mhaquiz.console import install_line_breaking

    install_line_breaking()
    for name in _TYPER_WORDS:
        setattr(rich_utils, name, t(f"typer.{name}", lang))


app = typer.Typer(
    name="mhaquiz",
    cls=LocalizedGroup,
    help=H("app"),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
export_app = typer.Typer(cls=LocalizedGroup, help=H("export"), short_help=H("short.export"), no_args_is_help=True)
app.add_typer(export_app, name="export")


def handle_errors(command: Callable) -> Callable:
    """Turn an expected error into one line on stderr (in the learner's language) and its exit code, and
    with --json also one JSON object on stdout; Ctrl-C into 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
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
    """--lang when it is a valid one (after the command, or before it), else the locale's (the error may be
    about --lang itself)."""
    from mhaquiz.i18n import LANGUAGES

    for candidate in (lang, _SESSION["root_lang"]):
        if candidate in LANGUAGES:
            return candidate
    return locale_language()


def _language(lang: Optional[str]) -> str:
    """`--lang` if given (zh or en), else the locale's language."""
    from mhaquiz.i18n import LANGUAGES

    lang = lang if lang is not None else _SESSION["root_lang"]
    if lang is None:
        return locale_language()
    if lang not in LANGUAGES:
        raise MhaquizError("error.unknown_language", value=lang, valid=", ".join(LANGUAGES))
    return lang


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mhaquiz {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help=H("opt.version")),
    lang: Optional[str] = typer.Option(None, "--lang", help=H("opt.lang")),
) -> None:
    _SESSION["root_lang"] = lang  # `mhaquiz --lang en stats`: every command's own --lang defaults to it


_root.__doc__ = H("app")

LANG_OPTION = typer.Option(None, "--lang", help=H("opt.lang"))
JSON_OPTION = typer.Option(False, "--json", help=H("opt.json"))
BANK_OPTION = typer.Option(None, "--bank", help=H("opt.bank"))
DIR_OPTION = typer.Option(Path("."), "--dir", help=H("opt.dir"))
SEED_OPTION = typer.Option(0, help=H("opt.seed"))
TIMEOUT_OPTION = typer.Option(5.0, help=H("opt.timeout"))
MEMORY_OPTION = typer.Option(2048, help=H("opt.memory"))
SANDBOX_OPTION = typer.Option("auto", envvar="MHAQUIZ_SANDBOX", help=H("opt.sandbox"))
FRAMEWORK_OPTION = typer.Option(None, "--torch/--numpy", help=H("opt.framework"), show_default=False)
RECORD_TIMEOUT = 2.0  # seconds to wait for a locked store when recording a grade (then warn)


def _command(name: Optional[str] = None, **kwargs):
    """app.command with its help text from the catalogue (`help.<name>`)."""
    def decorate(function: Callable) -> Callable:
        key = name or function.__name__
        return app.command(name, cls=LocalizedCommand, help=H(key), short_help=H(f"short.{key}"),
                           **kwargs)(handle_errors(function))

    return decorate


def _open_store(lang: Optional[str] = None, timeout: Optional[float] = None, *, write: bool = True,
                warn_readonly: bool = False):
    """The progress store, warning on stderr when an unreadable database file had to be moved aside.

    `write`: the command must save (a store that cannot be written is a one-line usage error); else a
    read-only store is read as it is, with a one-line note first when `warn_readonly` (the command would
    have saved something)."""
    from mhaquiz.store import Store, why_text

    language = _fallback_language(lang)
    store = Store.open(timeout=timeout, write=write)
    if store.moved_aside is not None:
        typer.echo(t("warning.moved_aside", language, path=store.path, moved=store.moved_aside), err=True)
    if store.unwritable is not None and warn_readonly:
        problem = store.unwritable
        typer.echo(t("warning.store_readonly", language, path=problem.path,
                     why=why_text(problem.why, problem.detail, language)), err=True)
    return store


def _say(text: str) -> None:
    """A message for the learner on stdout: in a terminal, wrapped at its width by the Chinese line-breaking
    rules (a path or a command kept whole where it fits); piped, one line."""
    from rich.text import Text

    from mhaquiz.console import make_console

    console = make_console()
    console.print(Text(text), soft_wrap=not console.is_terminal)


def _quote(path) -> str:
    """A path as it can be pasted into a shell."""
    return shlex.quote(str(path))


def _interactive() -> bool:
    """Whether we may ask a yes/no question (stdin is a terminal)."""
    return sys.stdin.isatty()


YES_WORDS = {"y", "yes", "是", "好", "确定", "对"}
NO_WORDS = {"", "n", "no", "否", "不", "不要", "取消"}


def _confirm(question: str, reason: str, yes: bool, lang: str) -> bool:
    """True with --yes; else ask in a terminal (y/yes/是 or n/no/否; Enter means no); piped without --yes is a
    usage error (nobody to ask)."""
    if yes:
        return True
    if not _interactive():
        raise MhaquizError("error.confirm_piped", reason=reason)
    while True:
        answer = input(f"{question} [{t('yes_no', lang)}] ").strip().lower()
        if answer in YES_WORDS or answer in NO_WORDS:
            return answer in YES_WORDS
        typer.echo(t("yes_no_again", lang))


# --- grading ---------------------------------------------------------------------------------------


@_command()
def grade(
    file: Path = typer.Argument(..., help=H("arg.file")),
    exercise: Optional[List[str]] = typer.Option(None, "--exercise", "-e", help=H("opt.exercise")),
    json_output: bool = JSON_OPTION,
    seed: int = SEED_OPTION,
    timeout: float = TIMEOUT_OPTION,
    memory: int = MEMORY_OPTION,
    sandbox: str = SANDBOX_OPTION,
    lang: Optional[str] = LANG_OPTION,
) -> None:
    from mhaquiz.grader.grade import start_grading
    from mhaquiz.practice.loop import find_exercise

    language = _language(lang)
    if exercise and file.is_file():  # an unknown id names the nearest one (a missing file is said first)
        for exercise_id in exercise:
            find_exercise(exercise_id)
    grading = start_grading(file, exercise_ids=exercise or None, seed=seed, timeout=timeout, memory_mb=memory,
                            sandbox=sandbox)
    report = grading.finish()
    if json_output:
        sys.stdout.write(report.to_json() + "\n")
    else:
        from mhaquiz.console import make_console

        console = make_console()
        _show_report(report, console, language)
    _record_grades(report, language)
    if not json_output:
        _suggest_next(report, console, language)
    raise typer.Exit(int(ExitCode.OK if report.passed else ExitCode.FAILED))


def _show_report(report, console, lang: str) -> None:
    from mhaquiz.grader.render import render

    render(report, console, lang)


def _record_grades(report, lang: str, context: Optional[str] = None) -> None:
    """Keep the result in the progress store; a store problem is a warning, never a lost verdict."""
    from mhaquiz.practice.loop import record_report

    try:
        with _open_store(lang, timeout=RECORD_TIMEOUT) as store:
            record_report(store, report, context)
    except MhaquizError as error:
        typer.echo(t("warning.not_recorded", lang, reason=error.text(lang)), err=True)


def _suggest_next(report, console, lang: str) -> None:
    """After a pass: the next exercise to practise; after a failure: where the hints are."""
    from rich.text import Text

    from mhaquiz.practice.loop import next_exercise, statuses

    from mhaquiz.practice.framework import flag_for

    if not report.exercises:
        return
    track = getattr(report, "track", "numpy")
    try:
        with _open_store(lang, timeout=RECORD_TIMEOUT, write=False) as store:
            if not report.passed:  # the commands shown stay in the file's track
                command_id = report.exercises[0].id + flag_for(track, store)
                console.print(Text(t("grade_stuck", lang, id=command_id), style="dim"))
                return
            upcoming = next_exercise(statuses(store, track=track), after=report.exercises[-1].id)
            flag = flag_for(upcoming.track, store) if upcoming else ""
    except MhaquizError:
        return
    key = "grade_next_due" if upcoming and upcoming.is_due else "grade_next"
    console.print(Text(t(key, lang, id=upcoming.id + flag) if upcoming else t("list_all_passed", lang), style="bold"))


@_command()
def doctor(json_output: bool = JSON_OPTION, sandbox: str = SANDBOX_OPTION,
           lang: Optional[str] = LANG_OPTION) -> None:
    from mhaquiz.doctor import diagnose_setup

    language = _language(lang)
    facts = diagnose_setup(sandbox)
    if json_output:
        import json

        sys.stdout.write(json.dumps(facts, ensure_ascii=False, indent=2) + "\n")
        return
    from mhaquiz.console import make_console
    from mhaquiz.doctor import render_doctor

    render_doctor(make_console(), facts, language)


# --- questions -------------------------------------------------------------------------------------


@_command()
def ask(
    count: int = typer.Option(10, "--count", "-n", min=1, help=H("opt.count")),
    topic: Optional[str] = typer.Option(None, "--topic", "-t", help=H("opt.topic")),
    difficulty: Optional[str] = typer.Option(None, "--difficulty", "-d", help=H("opt.difficulty")),
    seed: Optional[int] = typer.Option(None, help=H("opt.ask_seed")),
    lang: Optional[str] = LANG_OPTION,
    cram: bool = typer.Option(False, "--cram", help=H("opt.cram")),
    bank: Optional[Path] = BANK_OPTION,
) -> None:
    from mhaquiz.console import make_console
    from mhaquiz.quiz.bank import load_bank
    from mhaquiz.quiz.session import Session, summarize
    from mhaquiz.quiz.ui import Terminal

    language = _language(lang)
    loaded = load_bank(bank)
    questions = loaded.select(topic, difficulty)
    titles = {slug: loaded.topic_title(slug, language) for slug in loaded.topics}
    terminal = Terminal(make_console(), language, topic_titles=titles)
    from mhaquiz.store import StoreUnwritable

    try:
        store = _open_store(language, write=not cram, warn_readonly=True)
    except StoreUnwritable as error:  # the schedule is the point of ask: say why, and what to do
        raise StoreUnwritable("error.ask_unwritable", error.path, error.why, error.detail) from None
    with store:
        result = Session(store, terminal, cram=cram, seed=seed).run(questions, count)
        summarize(result, terminal, None if store.readonly else str(store.path))
    if result.interrupted:
        raise KeyboardInterrupt


@_command("questions")
def list_questions(
    topic: Optional[str] = typer.Option(None, "--topic", "-t", help=H("opt.topic")),
    bank: Optional[Path] = BANK_OPTION,
    json_output: bool = JSON_OPTION,
    lang: Optional[str] = LANG_OPTION,
) -> None:
    from mhaquiz.quiz.bank import load_bank

    language = _language(lang)
    loaded = load_bank(bank)
    selected = loaded.select(topic)
    if json_output:
        import json

        sys.stdout.write(json.dumps([q.summary() for q in selected], ensure_ascii=False, indent=2) + "\n")
        return
    from mhaquiz.console import make_console
    from mhaquiz.quiz.report import render_questions

    render_questions(make_console(), selected, language, loaded)


@_command()
def stats(
    json_output: bool = JSON_OPTION,
    bank: Optional[Path] = BANK_OPTION,
    lang: Optional[str] = LANG_OPTION,
) -> None:
    from mhaquiz import clock
    from mhaquiz.quiz.bank import load_bank
    from mhaquiz.overview.stats import collect_stats

    language = _language(lang)
    loaded = load_bank(bank)
    with _open_store(language, write=False) as store:
        report = collect_stats(store, loaded, clock.now())
    if json_output:
        import json

        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        return
    from mhaquiz.console import make_console
    from mhaquiz.overview.view import render_stats

    render_stats(make_console(), report, language)


@export_app.command("anki", cls=LocalizedCommand, help=H("export_anki"), short_help=H("short.export_anki"))
@handle_errors
def export_anki(
    file: Path = typer.Argument(..., help=H("arg.apkg")),
    lang: str = typer.Option("both", "--lang", help=H("opt.anki_lang")),
    bank: Optional[Path] = BANK_OPTION,
) -> None:
    from mhaquiz.anki import export_deck
    from mhaquiz.quiz.bank import load_bank

    language = _fallback_language(lang if lang in ("zh", "en") else None)
    if lang not in ("zh", "en", "both"):
        raise MhaquizError("error.unknown_language", value=lang, valid="zh, en, both")
    if file.suffix != ".apkg":
        file = file.with_name(file.name + ".apkg")
    loaded = load_bank(bank)
    titles = {slug: loaded.topic_titles[slug] for slug in loaded.topics if slug in loaded.topic_titles}
    summary = export_deck(loaded.questions, file, lang=lang, topic_titles=titles)
    _say(t("anki_done", language, path=summary.path, notes=summary.notes, open=summary.per_type.get("open", 0),
                 mcq=summary.per_type.get("mcq", 0), numeric=summary.per_type.get("numeric", 0)))
    if summary.other_language:
        _say(t("anki_other_language", language, count=len(summary.other_language)))


# --- the practice loop (core: mhaquiz/practice/loop.py, mhaquiz/practice/interview.py) -------------


def _track_flag(torch: Optional[bool]) -> Optional[str]:
    """--torch / --numpy as a framework name (None: neither given)."""
    return None if torch is None else "torch" if torch else "numpy"


def _framework(torch: Optional[bool], store=None):
    """The framework this command uses: --torch/--numpy > MHAQUIZ_FRAMEWORK > the saved setting > numpy."""
    from mhaquiz.practice.framework import resolve

    return resolve(_track_flag(torch), store)


def _warn_without_torch(track: str, lang: str) -> None:
    """One line on stderr when a PyTorch stub is written where torch is not installed (grading it needs it)."""
    from mhaquiz.practice.framework import torch_installed

    if track == "torch" and not torch_installed():
        typer.echo(t("warning.no_torch", lang), err=True)


@_command("list")
def list_exercises(json_output: bool = JSON_OPTION, lang: Optional[str] = LANG_OPTION,
                   torch: Optional[bool] = FRAMEWORK_OPTION) -> None:
    from mhaquiz.practice.framework import flag_for
    from mhaquiz.practice.loop import statuses

    language = _language(lang)
    with _open_store(language, write=False) as store:
        track = _framework(torch, store).name
        rows = statuses(store, track=track)
        flags = {name: flag_for(name, store) for name in ("numpy", "torch")}
    if json_output:
        import json

        sys.stdout.write(json.dumps([row.to_dict() for row in rows], ensure_ascii=False, indent=2) + "\n")
        return
    from mhaquiz.console import make_console
    from mhaquiz.practice.view import render_list

    render_list(make_console(), rows, language, track, flag=flags.get)


def _show_task(exercise, lang: str, track: str = "numpy") -> None:
    """The exercise's task: Markdown in a terminal, the text as written when piped."""
    from rich.markdown import Markdown
    from rich.text import Text

    from mhaquiz.console import make_console

    console = make_console()
    prompt = exercise.prompt_for(lang, track)
    console.print(Markdown(prompt) if console.is_terminal else Text(prompt.rstrip()), soft_wrap=not console.is_terminal)
    console.print()


@_command()
def start(
    exercise_id: str = typer.Argument(..., metavar="ID", help=H("arg.id")),
    directory: Path = DIR_OPTION,
    force: bool = typer.Option(False, "--force", help=H("opt.force")),
    lang: Optional[str] = LANG_OPTION,
    torch: Optional[bool] = FRAMEWORK_OPTION,
) -> None:
    from mhaquiz.practice.framework import flag_for
    from mhaquiz.practice.loop import start as start_exercise
    from mhaquiz.practice.view import track_name

    language = _language(lang)
    with _open_store(language, write=False) as store:
        track = _framework(torch, store).name
        started = start_exercise(exercise_id, directory, force=force, store=store, track=track)
        flag = flag_for(track, store)
    _show_task(started.exercise, language, track)
    path, exercise_id = _quote(started.path), started.exercise.id
    if started.action == "kept":  # the command that starts afresh, ready to paste
        where = "" if Path(directory) == Path(".") else f" --dir {_quote(directory)}"
        command = f"mhaquiz start {exercise_id}{where}{flag} --force"
        if started.file_track not in (None, track):  # the file there is the other track's: say so
            _say(t("start_kept_other_track", language, path=path, command=command,
                   file_track=track_name(started.file_track, language), track=track_name(track, language)))
        else:
            _say(t("start_kept", language, path=path, command=command))
    elif started.kept_as is not None:
        _say(t("start_renewed", language, path=path, kept=_quote(started.kept_as)))
    _say(t("start_next", language, path=path, id=exercise_id + flag))
    _warn_without_torch(track, language)


def _current(store, exercise_id: Optional[str], lang: str):
    """The exercise named, or (no id) the one last started or graded, saying which on stderr."""
    from mhaquiz.practice.loop import current_exercise

    exercise = current_exercise(store, exercise_id)
    if exercise_id is None:
        typer.echo(t("current_exercise", lang, id=exercise.id), err=True)
    return exercise


@_command()
def task(exercise_id: Optional[str] = typer.Argument(None, metavar="[ID]", help=H("arg.id_current")),
         lang: Optional[str] = LANG_OPTION, torch: Optional[bool] = FRAMEWORK_OPTION) -> None:
    from mhaquiz.practice.framework import flag_for
    from mhaquiz.practice.loop import check_track, find_exercise

    language = _language(lang)
    if exercise_id is not None:  # named: no store is created (a saved framework is read if there is one)
        exercise = find_exercise(exercise_id)
        track = check_track(exercise, _framework(torch).name)
        flag = flag_for(track)
    else:
        with _open_store(language, write=False) as store:
            exercise = _current(store, None, language)
            track = check_track(exercise, _framework(torch, store).name)
            flag = flag_for(track, store)
    _show_task(exercise, language, track)
    _say(t("task_start", language, id=exercise.id + flag))


@_command()
def hint(exercise_id: Optional[str] = typer.Argument(None, metavar="[ID]", help=H("arg.id_current")),
         lang: Optional[str] = LANG_OPTION, torch: Optional[bool] = FRAMEWORK_OPTION) -> None:
    from mhaquiz.console import make_console
    from mhaquiz.practice.framework import flag_for
    from mhaquiz.practice.loop import reveal_hint, title
    from mhaquiz.practice.view import render_hints, track_name

    language = _language(lang)
    with _open_store(language, write=False, warn_readonly=True) as store:
        track = _framework(torch, store).name
        reveal = reveal_hint(store, _current(store, exercise_id, language).id, language, track)
        flag = flag_for(track, store)
    heading = title(reveal.exercise, language)
    if track != "numpy":
        heading = t("track_tagged", language, name=heading, track=track_name(track, language))
    render_hints(make_console(), reveal, heading, language, flag)


@_command()
def solution(
    exercise_id: str = typer.Argument(..., metavar="ID", help=H("arg.id")),
    yes: bool = typer.Option(False, "--yes", "-y", help=H("opt.yes_solution")),
    lang: Optional[str] = LANG_OPTION,
    torch: Optional[bool] = FRAMEWORK_OPTION,
) -> None:
    from mhaquiz.console import make_console
    from mhaquiz.practice.loop import check_track, find_exercise, has_passed, solution_name, solution_source, title
    from mhaquiz.practice.view import render_solution

    language = _language(lang)
    exercise = find_exercise(exercise_id)
    with _open_store(language, write=False) as store:
        track = check_track(exercise, _framework(torch, store).name)
        passed = has_passed(store, exercise.id, track)
    if not passed and not _confirm(t("solution_confirm", language, id=exercise.id),
                                   t("reason_not_passed", language, id=exercise.id), yes, language):
        typer.echo(t("cancelled", language), err=True)
        raise typer.Exit(int(ExitCode.FAILED))
    header = t("solution_header", language, title=title(exercise, language), path=solution_name(exercise, track))
    render_solution(make_console(), solution_source(exercise, track), header)


@_command()
def reset(
    exercise_id: str = typer.Argument(..., metavar="ID", help=H("arg.id")),
    directory: Path = DIR_OPTION,
    yes: bool = typer.Option(False, "--yes", "-y", help=H("opt.yes_reset")),
    lang: Optional[str] = LANG_OPTION,
    torch: Optional[bool] = FRAMEWORK_OPTION,
) -> None:
    from mhaquiz.practice.loop import check_track, exercise_file, find_exercise
    from mhaquiz.practice.loop import reset as reset_exercise

    language = _language(lang)
    exercise = find_exercise(exercise_id)
    with _open_store(language, write=False) as store:
        track = check_track(exercise, _framework(torch, store).name)  # before asking anything
    path = exercise_file(exercise, directory)
    if path.exists() and not _confirm(t("reset_confirm", language, path=_quote(path)),
                                      t("reason_exists", language, path=_quote(path)), yes, language):
        typer.echo(t("cancelled", language), err=True)
        raise typer.Exit(int(ExitCode.FAILED))
    with _open_store(language, write=False, warn_readonly=True) as store:
        started = reset_exercise(store, exercise_id, directory, track)
    _say(t("reset_done", language, path=_quote(started.path)))
    if started.kept_as is not None:
        _say(t("reset_kept", language, kept=_quote(started.kept_as)))
    _warn_without_torch(track, language)


@_command()
def watch(
    file: Path = typer.Argument(..., help=H("arg.watch_file")),
    exercise: Optional[List[str]] = typer.Option(None, "--exercise", "-e", help=H("opt.exercise")),
    seed: int = SEED_OPTION,
    timeout: float = TIMEOUT_OPTION,
    memory: int = MEMORY_OPTION,
    sandbox: str = SANDBOX_OPTION,
    stop_after: Optional[float] = typer.Option(None, "--stop-after", min=0, help=H("opt.stop_after")),
    lang: Optional[str] = LANG_OPTION,
) -> None:
    from datetime import datetime

    from rich.text import Text

    from mhaquiz.console import make_console
    from mhaquiz.grader.grade import check_limits, grade_file
    from mhaquiz.grader.sandbox import WarmPool
    from mhaquiz.practice.loop import find_exercise, watch_file

    language = _language(lang)
    check_limits(timeout, memory, sandbox)  # up front: a bad limit would otherwise fail every re-grade
    ids = [find_exercise(exercise_id).id for exercise_id in exercise] if exercise else None  # checked once, up front
    if file.is_dir():
        raise MhaquizError("error.is_directory", path=file)
    if not file.parent.is_dir():
        raise MhaquizError("error.no_such_directory", path=file.parent)
    if not file.exists():
        raise MhaquizError("error.watch_missing", path=_quote(file))
    console = make_console()
    last = {"passed": False}
    pool = WarmPool()  # a warm warden between saves: fresh runner and folder each time, replaced after a bad run

    def regrade() -> None:
        if console.is_terminal:
            console.clear()
        else:
            console.print(Text(t("watch_regrading", language, time=datetime.now().strftime("%H:%M:%S"), path=file)))
        if not file.is_file():
            console.print(Text(t("watch_gone", language, path=file), style="yellow"))
            last["passed"] = False
        else:
            try:
                report = grade_file(file, exercise_ids=ids, seed=seed, timeout=timeout, memory_mb=memory,
                                    sandbox=sandbox, pool=pool)
            except MhaquizError as error:  # unreadable for the moment, say: keep watching
                console.print(Text(t("error.prefix", language, message=error.text(language)), style="red"))
                last["passed"] = False
            else:
                _show_report(report, console, language)
                _record_grades(report, language)
                last["passed"] = report.passed
        console.print(Text(t("watch_watching", language, path=file), style="dim"))

    with pool:
        watch_file(file, regrade, stop_after=stop_after)
    raise typer.Exit(int(ExitCode.OK if last["passed"] else ExitCode.FAILED))


@_command()
def interview(
    minutes: float = typer.Option(30.0, "--minutes", "-m", help=H("opt.minutes")),
    questions: int = typer.Option(3, "--questions", "-n", min=0, help=H("opt.questions")),
    exercise: Optional[str] = typer.Option(None, "--exercise", "-e", help=H("opt.interview_exercise")),
    directory: Path = DIR_OPTION,
    lang: Optional[str] = LANG_OPTION,
    seed: Optional[int] = typer.Option(None, help=H("opt.interview_seed")),
    bank: Optional[Path] = BANK_OPTION,
    torch: Optional[bool] = FRAMEWORK_OPTION,
) -> None:
    from mhaquiz.console import make_console
    from mhaquiz.practice.interview import TimedTerminal, run_interview
    from mhaquiz.quiz.bank import load_bank

    language = _language(lang)
    loaded = load_bank(bank)
    titles = {slug: loaded.topic_title(slug, language) for slug in loaded.topics}
    terminal = TimedTerminal(make_console(), language, topic_titles=titles)
    with _open_store(language, write=False, warn_readonly=True) as store:
        track = _framework(torch, store).name
        _warn_without_torch(track, language)
        run_interview(store, terminal, loaded.select(), minutes=minutes, question_count=questions,
                      directory=directory, exercise_id=exercise, seed=seed, track=track)


@_command()
def config(
    key: Optional[str] = typer.Argument(None, metavar="[KEY]", help=H("arg.config_key")),
    value: Optional[str] = typer.Argument(None, metavar="[VALUE]", help=H("arg.config_value")),
    json_output: bool = JSON_OPTION,
    lang: Optional[str] = LANG_OPTION,
) -> None:
    from mhaquiz.practice import framework

    language = _language(lang)
    if key is not None and key not in framework.SETTINGS:
        raise MhaquizError("error.unknown_setting", name=key, valid=", ".join(framework.SETTINGS))
    if value is not None:
        name = framework.check(value)  # a bad value is refused before the store is opened
        with _open_store(language) as store:
            framework.save(store, name)
            shown = framework.settings(store)
        _say(t("config_saved", language, track=name))
        env = shown[framework.SETTING]["env"]
        if env and env.strip().lower() != name:
            _say(t("config_env_overrides", language, value=env))
        _warn_without_torch(name, language)
        return
    with _open_store(language, write=False) as store:
        shown = framework.settings(store)
    if json_output:
        import json

        sys.stdout.write(json.dumps(shown if key is None else {key: shown[key]}, ensure_ascii=False, indent=2) + "\n")
        return
    setting = shown[framework.SETTING]
    _say(t(f"config_framework_{setting['source']}", language, value=setting["value"], saved=setting["saved"] or "numpy"))


def main() -> None:
    """Console-script entry point."""
    app(prog_name="mhaquiz")
