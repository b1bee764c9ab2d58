"""The practice loop's core: the curriculum, each exercise's status, and start / hint / solution / reset / watch.

- Learning order: `order` in each exercise.yaml (then the id); an exercise without `order` comes last.
- Status, from the progress store's grades: "not started" (never graded), "attempted" (graded, never
  passed), "passed" (passed at least once). The best result is the store's best attempt (passed first, then
  the most cases passed, then the latest) with the date it was graded.
- Files are only ever written as `<directory>/<id>.py` where `id` is a registered exercise's id (which the
  registry restricts to `[a-z][a-z0-9_]*`): a user's string is never turned into a path unchecked.
- Hints are progressive: the store remembers how many of an exercise's hints were shown; `reset` sets that
  back to zero and keeps every grade.

The CLI (`mhaquiz/cli.py`) only parses options, asks for confirmations and renders what these return.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, List, Optional

from mhaquiz.errors import MhaquizError
from mhaquiz.grader.exercises import Exercise, curriculum, get_exercise

if TYPE_CHECKING:
    from mhaquiz.store import Store

NOT_STARTED = "not started"
ATTEMPTED = "attempted"
PASSED = "passed"
STATUSES = (NOT_STARTED, ATTEMPTED, PASSED)

# --- the curriculum (its order: grader/exercises.py::curriculum) -------------------------------


def title(exercise: Exercise, lang: str) -> str:
    """The exercise's title in `lang` (the other language, then the id, if missing)."""
    return _in_language(exercise.meta.get("title"), lang) or exercise.id


def hints(exercise: Exercise, lang: str) -> List[str]:
    """The exercise's hints in `lang`, in order."""
    return [text for text in (_in_language(hint, lang) for hint in exercise.meta.get("hints") or []) if text]


def _in_language(value, lang: str) -> str:
    if isinstance(value, dict):
        for key in (lang, "en", "zh"):
            if isinstance(value.get(key), str) and value[key].strip():
                return value[key].strip()
        return ""
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class ExerciseStatus:
    """One row of `mhaquiz list`."""

    id: str
    position: int  # 1-based place in the learning order
    order: Optional[int]
    title: dict  # {"zh": ..., "en": ...}
    status: str  # NOT_STARTED, ATTEMPTED or PASSED
    attempts: int
    best: Optional[dict]  # the best attempt's summary, as `grade` recorded it
    best_graded_at: Optional[datetime]
    last_graded_at: Optional[datetime]
    hints_shown: int
    hints_total: int

    def to_dict(self) -> dict:
        return {
            "id": self.id, "position": self.position, "order": self.order, "title": self.title,
            "status": self.status, "attempts": self.attempts, "best": self.best,
            "best_graded_at": self.best_graded_at.isoformat() if self.best_graded_at else None,
            "last_graded_at": self.last_graded_at.isoformat() if self.last_graded_at else None,
            "hints_shown": self.hints_shown, "hints_total": self.hints_total,
        }


def statuses(store: "Store") -> List[ExerciseStatus]:
    """Every exercise in learning order with its status, best result and hints shown."""
    progress = store.exercise_progress()
    rows = []
    for position, exercise in enumerate(curriculum(), start=1):
        record = progress.get(exercise.id)
        rows.append(ExerciseStatus(
            id=exercise.id,
            position=position,
            order=exercise.meta.get("order"),
            title={lang: title(exercise, lang) for lang in ("zh", "en")},
            status=NOT_STARTED if record is None else PASSED if record.passed else ATTEMPTED,
            attempts=record.attempts if record else 0,
            best=record.best if record else None,
            best_graded_at=(record.best_graded_at or record.last_graded_at) if record else None,
            last_graded_at=record.last_graded_at if record else None,
            hints_shown=min(store.hints_shown(exercise.id), len(hints(exercise, "en"))),
            hints_total=len(hints(exercise, "en")),
        ))
    return rows


def totals(rows: Iterable[ExerciseStatus]) -> dict:
    """How many exercises are passed, attempted, not started, in all."""
    rows = list(rows)
    count = {status: sum(row.status == status for row in rows) for status in STATUSES}
    return {"passed": count[PASSED], "attempted": count[ATTEMPTED], "not_started": count[NOT_STARTED], "total": len(rows)}


def next_exercise(rows: Iterable[ExerciseStatus]) -> Optional[ExerciseStatus]:
    """The first exercise in learning order not passed yet."""
    return next((row for row in rows if row.status != PASSED), None)


def has_passed(store: "Store", exercise_id: str) -> bool:
    record = store.exercise_progress().get(exercise_id)
    return bool(record and record.passed)


# --- start, reset, solution -----------------------------------------------------------------


def exercise_file(exercise: Exercise, directory: Path) -> Path:
    """Where an exercise's working file lives: `<directory>/<id>.py` (the id is a registered one)."""
    return _directory(directory) / f"{exercise.id}.py"


def _directory(directory: Path) -> Path:
    directory = Path(directory)
    if not directory.exists():
        raise MhaquizError("error.no_such_directory", path=directory)
    if not directory.is_dir():
        raise MhaquizError("error.not_a_directory", path=directory)
    return directory


def start(exercise_id: str, directory: Path, force: bool = False) -> tuple[Exercise, Path]:
    """Write the exercise's stub to `<directory>/<id>.py`; refuse to overwrite an existing file unless `force`."""
    exercise = get_exercise(exercise_id)  # unknown or path-like ids: usage error listing the valid ones
    target = exercise_file(exercise, directory)
    if target.exists() and not force:
        raise MhaquizError("error.exists", path=target)
    _write_stub(exercise, target)
    return exercise, target


def reset(store: "Store", exercise_id: str, directory: Path) -> tuple[Exercise, Path]:
    """Rewrite the stub over `<directory>/<id>.py` and forget the hints shown; the grades are kept."""
    exercise = get_exercise(exercise_id)
    target = exercise_file(exercise, directory)
    _write_stub(exercise, target)
    store.set_hints_shown(exercise.id, 0)
    return exercise, target


def fresh_file(exercise: Exercise, directory: Path, prefix: str) -> Path:
    """`<directory>/<prefix><id>.py`, or with _2, _3, ... appended: a name that does not exist yet."""
    directory = _directory(directory)
    candidate = directory / f"{prefix}{exercise.id}.py"
    number = 2
    while candidate.exists():
        candidate = directory / f"{prefix}{exercise.id}_{number}.py"
        number += 1
    return candidate


def _write_stub(exercise: Exercise, target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise MhaquizError("error.not_regular", path=target)
    try:
        target.write_text(exercise.stub_path.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as error:
        raise MhaquizError("error.cannot_write", path=target, reason=error.strerror or str(error)) from None


def record_report(store: "Store", report) -> None:
    """Record each exercise a grade covered. A stub graded untouched (the file is still the stub as written,
    every case raising NotImplementedError) is not an attempt, and is not recorded."""
    for exercise_id, passed, summary in report.summaries():
        if summary["verdict"] == "not_implemented" and is_untouched_stub(Path(report.file), exercise_id):
            continue
        store.record_grade(exercise_id, passed, summary)


def is_untouched_stub(path: Path, exercise_id: str) -> bool:
    """Whether the file at `path` is still the exercise's stub (whitespace aside)."""
    try:
        text = path.read_text(encoding="utf-8")
        stub = get_exercise(exercise_id).stub_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, MhaquizError):
        return False
    return text.split() == stub.split()


def solution_source(exercise: Exercise) -> str:
    """The reference solution's source (the registry only lists exercises that have one)."""
    return exercise.solution_path.read_text(encoding="utf-8")


# --- hints ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HintReveal:
    """What `mhaquiz hint` shows: every hint revealed so far, and whether this call revealed a new one."""

    exercise: Exercise
    shown: List[str]
    total: int
    new: bool

    @property
    def left(self) -> int:
        return self.total - len(self.shown)


def reveal_hint(store: "Store", exercise_id: str, lang: str) -> HintReveal:
    """Reveal the next hint (if any is left) and remember it; returns all the hints shown so far."""
    exercise = get_exercise(exercise_id)
    texts = hints(exercise, lang)
    already = min(store.hints_shown(exercise.id), len(texts))
    new = already < len(texts)
    if new:
        already += 1
        store.set_hints_shown(exercise.id, already)
    return HintReveal(exercise, texts[:already], len(texts), new)


# --- watch ------------------------------------------------------------------------------------

DEBOUNCE_MS = 800  # the most a burst of changes is grouped over
STEP_MS = 100  # a change is acted on once the file has been quiet this long


def watch_file(
    path: Path,
    on_change: Callable[[], None],
    *,
    stop_after: Optional[float] = None,
    stop_event: Optional[threading.Event] = None,
    debounce_ms: int = DEBOUNCE_MS,
) -> None:
    """Call `on_change()` once now and again after every burst of saves to `path`, until `stop_after`
    seconds have passed, `stop_event` is set, or Ctrl-C (KeyboardInterrupt propagates).

    The folder is watched, not the file, so editors that save by writing a new file and renaming it over
    the old one (vim, many IDEs) are seen too; deleting the file is reported as a change as well.
    """
    import watchfiles

    path = Path(path).resolve()
    stop = stop_event or threading.Event()
    timer = None
    if stop_after is not None:
        timer = threading.Timer(max(0.0, stop_after), stop.set)
        timer.daemon = True
        timer.start()
    try:
        on_change()
        if stop.is_set():
            return
        watched = str(path)
        for _ in watchfiles.watch(
            path.parent,
            watch_filter=lambda change, changed: changed == watched,
            debounce=debounce_ms,
            step=STEP_MS,
            stop_event=stop,
            recursive=False,
            raise_interrupt=True,
            rust_timeout=500,
            yield_on_timeout=False,
        ):
            on_change()
            if stop.is_set():
                return
    finally:
        if timer is not None:
            timer.cancel()


def wait_for_line(read_line: Callable[[], str], deadline: float, clock: Callable[[], float] = time.monotonic) -> Optional[str]:
    """A line from `read_line()` (run in a daemon thread), or None if `deadline` (on `clock`) comes first.

    The end of input is returned as "" (what `readline()` returns).
    """
    box: list = []
    done = threading.Event()

    def reader() -> None:
        try:
            box.append(read_line())
        except BaseException as error:  # EOFError, a closed stream: the end of input
            box.append(error)
        done.set()

    threading.Thread(target=reader, daemon=True, name="mhaquiz-input").start()
    while not done.is_set():
        left = deadline - clock()
        if left <= 0:
            return None
        done.wait(min(left, 0.25))
    value = box[0]
    if isinstance(value, KeyboardInterrupt):
        raise value
    return "" if isinstance(value, BaseException) else value
