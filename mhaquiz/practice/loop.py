"""The practice loop's core: the curriculum, each exercise's status, and start / hint / solution / reset / watch.

- Learning order: `order` in each exercise.yaml (then the id); an exercise without `order` comes last.
- Status, from the progress store's grades: "not started" (never graded), "attempted" (graded, never
  passed), "passed" (passed at least once). The best result is the store's best attempt (passed first, then
  the most cases passed, then the latest) with the date it was graded.
- Practising again: a passed exercise has an FSRS schedule over its grade outcomes (`exercise_cards`,
  `quiz.schedule.review_exercise`: no flashcard learning steps, so a first pass comes back in 2 days): the
  first pass schedules it (Good); when it is due, the next grade reviews it (passed: Good; failed: Again,
  so it comes back soon); grades while it is not due leave the schedule alone. `start` on a due exercise
  puts the earlier file aside and writes a fresh stub.
- A named mistake brings the questions it relates to forward in `ask` (store `boosts`). Each grade is
  recorded with its submission (the file's SHA-256), so the same file graded again is one submission.
- The exercise last started or graded is remembered (store `state`): `task` and `hint` without an id use it.
  An unknown id names the nearest one (`find_exercise`).
- Files are only ever written as `<directory>/<id>.py` where `id` is a registered exercise's id (which the
  registry restricts to `[a-z][a-z0-9_]*`): a user's string is never turned into a path unchecked. A file
  of the learner's is never overwritten: it is renamed aside (`<id>.<date-time>.py`) first.
- Hints are progressive: the store remembers how many of an exercise's hints were shown; `reset` sets that
  back to zero and keeps every grade.
- Tracks: an exercise is practised in NumPy or, when it has a PyTorch form, in PyTorch (framework.py says
  which one a command uses). Status, best result, the practice schedule and the hints shown are kept per
  exercise and track; a grade is recorded in the track the grader found in the file. `start`, `reset`,
  `task`, `hint` and `solution` in a track the exercise lacks are a usage error listing its tracks. A
  PyTorch exercise's hints are exercise.yaml's `torch_hints` when it has them, else the shared `hints`.

The CLI (`mhaquiz/cli.py`) only parses options, asks for confirmations and renders what these return.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, List, Optional

from mhaquiz import clock
from mhaquiz.errors import MhaquizError
from mhaquiz.grader.exercises import TRACKS, Exercise, curriculum, get_exercise

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


def hints(exercise: Exercise, lang: str, track: str = "numpy") -> List[str]:
    """The exercise's hints in `lang` for `track`, in order (PyTorch: `torch_hints` if any, else `hints`)."""
    given = (exercise.meta.get("torch_hints") if track == "torch" else None) or exercise.meta.get("hints") or []
    return [text for text in (_in_language(hint, lang) for hint in given) if text]


def check_track(exercise: Exercise, track: str) -> str:
    """`track` when the exercise can be done in it; else a usage error listing the tracks it has."""
    if track not in exercise.tracks:
        raise MhaquizError("error.no_torch_form", id=exercise.id, tracks=", ".join(exercise.tracks))
    return track


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
    due: Optional[datetime] = None  # when a passed exercise is to be practised again
    is_due: bool = False
    track: str = "numpy"  # the track this row is about: the one asked for, or NumPy when the exercise lacks it
    others: tuple = ()  # the same exercise in its other tracks (ExerciseStatus each)

    def progress(self) -> dict:
        """This row's progress in its track (what `list --json` gives per track)."""
        return {
            "status": self.status, "attempts": self.attempts, "best": self.best,
            "best_graded_at": self.best_graded_at.isoformat() if self.best_graded_at else None,
            "last_graded_at": self.last_graded_at.isoformat() if self.last_graded_at else None,
            "hints_shown": self.hints_shown, "hints_total": self.hints_total,
            "due": self.due.isoformat() if self.due else None, "is_due": self.is_due,
        }

    def to_dict(self) -> dict:
        """The row's own track's progress at the top level, and every track of the exercise under "tracks"."""
        tracks = {row.track: row.progress() for row in (self, *self.others)}
        return {"id": self.id, "position": self.position, "order": self.order, "title": self.title,
                **self.progress(), "track": self.track,
                "tracks": {track: tracks[track] for track in TRACKS if track in tracks}}


def statuses(store: "Store", now: Optional[datetime] = None, track: str = "numpy") -> List[ExerciseStatus]:
    """Every exercise in learning order with its status in `track` (NumPy for an exercise without that track),
    best result, hints shown and when it is due; each row carries the exercise's other tracks in `others`."""
    now = now or clock.now()
    progress, cards = {}, {}
    rows = []
    for position, exercise in enumerate(curriculum(), start=1):
        def row(in_track: str, others: tuple = ()) -> ExerciseStatus:
            if in_track not in progress:
                progress[in_track] = store.exercise_progress(in_track)
                cards[in_track] = store.exercise_cards(in_track)
            record, card = progress[in_track].get(exercise.id), cards[in_track].get(exercise.id)
            texts = hints(exercise, "en", in_track)
            return ExerciseStatus(
                id=exercise.id,
                position=position,
                order=exercise.meta.get("order"),
                title={lang: title(exercise, lang) for lang in ("zh", "en")},
                status=NOT_STARTED if record is None else PASSED if record.passed else ATTEMPTED,
                attempts=record.attempts if record else 0,
                best=record.best if record else None,
                best_graded_at=(record.best_graded_at or record.last_graded_at) if record else None,
                last_graded_at=record.last_graded_at if record else None,
                hints_shown=min(store.hints_shown(exercise.id, in_track), len(texts)),
                hints_total=len(texts),
                due=card.due if card else None,
                is_due=card is not None and card.due <= now,
                track=in_track,
                others=others,
            )

        shown = track if track in exercise.tracks else "numpy"
        rows.append(row(shown, tuple(row(other) for other in exercise.tracks if other != shown)))
    return rows


def totals(rows: Iterable[ExerciseStatus]) -> dict:
    """How many exercises are passed, attempted, not started, in all."""
    rows = list(rows)
    count = {status: sum(row.status == status for row in rows) for status in STATUSES}
    return {"passed": count[PASSED], "attempted": count[ATTEMPTED], "not_started": count[NOT_STARTED], "total": len(rows)}


def next_exercise(rows: Iterable[ExerciseStatus], after: Optional[str] = None) -> Optional[ExerciseStatus]:
    """The exercise to practise next: one due for practice again first, then the first in learning order
    not passed yet (after `after`, the one just passed, when given)."""
    rows = list(rows)
    due = [row for row in rows if row.is_due and row.id != after]
    if due:
        return min(due, key=lambda row: row.due)
    ids = [row.id for row in rows]
    start = ids.index(after) + 1 if after in ids else 0
    return next((row for row in rows[start:] + rows[:start] if row.status != PASSED and row.id != after), None)


def has_passed(store: "Store", exercise_id: str, track: str = "numpy") -> bool:
    record = store.exercise_progress(track).get(exercise_id)
    return bool(record and record.passed)


def find_exercise(exercise_id: str) -> Exercise:
    """The exercise with this id; an unknown id is a usage error naming the nearest one when there is one
    (mha_foward: did you mean mha_forward?)."""
    try:
        return get_exercise(exercise_id)
    except MhaquizError as error:
        if error.key != "error.unknown_exercise":
            raise
        import difflib

        ids = [exercise.id for exercise in curriculum()]
        near = difflib.get_close_matches(exercise_id.strip().lower(), ids, n=1, cutoff=0.8)  # a typo, not "nope" -> rope
        if not near:
            raise
        raise MhaquizError("error.unknown_exercise_near", id=exercise_id, near=near[0]) from None


def current_exercise(store: "Store", exercise_id: Optional[str]) -> Exercise:
    """`exercise_id` when given, else the exercise last started or graded (a usage error before any)."""
    if exercise_id is not None:
        return find_exercise(exercise_id)
    remembered = store.current_exercise()
    if remembered is None:
        raise MhaquizError("error.no_current_exercise")
    return find_exercise(remembered)


def remember(store: "Store", exercise_id: str) -> None:
    """Note the exercise as the current one (for `task` and `hint` without an id), where the store allows."""
    if not store.readonly:
        store.set_current_exercise(exercise_id)


# --- start, reset, solution -----------------------------------------------------------------


def exercise_file(exercise: Exercise, directory: Path, create: bool = False) -> Path:
    """Where an exercise's working file lives: `<directory>/<id>.py` (the id is a registered one); with
    `create`, the folder is made if missing."""
    return _directory(directory, create) / f"{exercise.id}.py"


def _directory(directory: Path, create: bool = False) -> Path:
    directory = Path(directory).expanduser()
    if create and not directory.exists():
        try:
            directory.mkdir(parents=True)
        except OSError as error:
            raise MhaquizError("error.cannot_write", path=directory, reason=error.strerror or str(error)) from None
    if not directory.exists():
        raise MhaquizError("error.no_such_directory", path=directory)
    if not directory.is_dir():
        raise MhaquizError("error.not_a_directory", path=directory)
    return directory


@dataclass(frozen=True)
class Started:
    """What `start` did: `written` (a new stub), `kept` (the file exists: left as it is), `renewed` (the
    exercise was due for practice again, or --force: the earlier file put aside as `kept_as`, a fresh stub).
    `track`: the stub's; `file_track`: the track a kept file is written in (None if it cannot be parsed)."""

    exercise: Exercise
    path: Path
    action: str
    kept_as: Optional[Path] = None
    track: str = "numpy"
    file_track: Optional[str] = None


def start(exercise_id: str, directory: Path, force: bool = False, store: Optional["Store"] = None,
          now: Optional[datetime] = None, track: str = "numpy") -> Started:
    """Write the exercise's stub in `track` to `<directory>/<id>.py` (creating the folder). An existing file
    is left alone, unless the exercise is due for practice again in `track` (per `store`) or `force`: then it
    is put aside and a fresh stub written. Never overwrites the learner's work."""
    exercise = find_exercise(exercise_id)  # unknown or path-like ids: usage error naming the nearest
    check_track(exercise, track)
    target = exercise_file(exercise, directory, create=True)
    if store is not None:
        remember(store, exercise.id)
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise MhaquizError("error.not_regular", path=target)
    if not target.exists():
        _write_stub(exercise, target, track)
        return Started(exercise, target, "written", track=track)
    due = store is not None and any(row.id == exercise.id and row.track == track and row.is_due
                                    for row in statuses(store, now, track))
    if not (force or due):
        return Started(exercise, target, "kept", track=track, file_track=file_track(target))
    kept_as = put_aside(target, now)
    _write_stub(exercise, target, track)
    return Started(exercise, target, "renewed", kept_as, track=track)


def file_track(path: Path) -> Optional[str]:
    """The track a learner's file is written in ("torch" if it imports torch), as the grader decides it;
    None when it cannot be read or parsed."""
    import ast

    from mhaquiz.grader.exercises import imports_torch

    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return "torch" if imports_torch(tree) else "numpy"


def put_aside(path: Path, now: Optional[datetime] = None) -> Path:
    """Rename the learner's file to `<stem>.<date-time>.py` beside it (a number added if taken)."""
    stamp = (now or clock.now()).astimezone().strftime("%Y%m%d-%H%M%S")
    candidate, number = path.with_name(f"{path.stem}.{stamp}{path.suffix}"), 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.{stamp}-{number}{path.suffix}")
        number += 1
    try:
        path.rename(candidate)
    except OSError as error:
        raise MhaquizError("error.cannot_write", path=candidate, reason=error.strerror or str(error)) from None
    return candidate


def reset(store: "Store", exercise_id: str, directory: Path, track: str = "numpy") -> Started:
    """Put the learner's `<directory>/<id>.py` aside, write the stub of `track` there again and forget the
    hints shown in that track; the grades are kept."""
    exercise = find_exercise(exercise_id)
    check_track(exercise, track)
    target = exercise_file(exercise, directory)
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise MhaquizError("error.not_regular", path=target)
    kept_as = put_aside(target) if target.exists() else None
    _write_stub(exercise, target, track)
    if not store.readonly:  # a read-only store: the file is reset, the hints shown cannot be forgotten
        store.set_hints_shown(exercise.id, 0, track)
    return Started(exercise, target, "renewed" if kept_as else "written", kept_as, track=track)


def fresh_file(exercise: Exercise, directory: Path, prefix: str) -> Path:
    """`<directory>/<prefix><id>.py`, or with _2, _3, ... appended: a name that does not exist yet."""
    directory = _directory(directory)
    candidate = directory / f"{prefix}{exercise.id}.py"
    number = 2
    while candidate.exists():
        candidate = directory / f"{prefix}{exercise.id}_{number}.py"
        number += 1
    return candidate


def _write_stub(exercise: Exercise, target: Path, track: str = "numpy") -> None:
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise MhaquizError("error.not_regular", path=target)
    try:
        target.write_text(exercise.stub_path_for(track).read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as error:
        raise MhaquizError("error.cannot_write", path=target, reason=error.strerror or str(error)) from None


def record_report(store: "Store", report, context: Optional[str] = None, now: Optional[datetime] = None) -> None:
    """Record each exercise a grade covered, with what follows from it: the exercise's practice schedule,
    the mistakes named, and the questions those bring forward in `ask`. A stub graded untouched (the file
    is still the stub as written) is not an attempt, and is not recorded. Everything is kept in the track the
    grader found the file written in (`report.track`)."""
    from mhaquiz.quiz.schedule import Rating, review_exercise

    now = now or clock.now()
    track = getattr(report, "track", "numpy")
    cards = store.exercise_cards(track)
    findings = {exercise.id: exercise.diagnosis for exercise in report.exercises}
    submission = submission_hash(Path(report.file))
    for exercise_id, passed, summary in report.summaries():
        if summary["verdict"] == "not_implemented" and is_untouched_stub(Path(report.file), exercise_id, track):
            continue
        card = cards.get(exercise_id)
        new_card = None
        if card is None and passed:
            new_card = review_exercise(None, exercise_id, Rating.Good, now)
        elif card is not None and card.due <= now:
            new_card = review_exercise(card, exercise_id, Rating.Good if passed else Rating.Again, now)
        diagnoses = findings.get(exercise_id, [])
        mistakes = [(d.mistake, {"zh": d.title.zh, "en": d.title.en}) for d in diagnoses]
        boosts = [(question_id, d.mistake) for d in diagnoses for question_id in d.related]
        if context:
            summary = {**summary, "context": context}
        store.record_grade(exercise_id, passed, summary, graded_at=now, card=new_card, mistakes=mistakes, boosts=boosts,
                           submission=submission, track=track)
        store.set_current_exercise(exercise_id)


def submission_hash(path: Path) -> str | None:
    """What identifies a submission: the SHA-256 of the file's bytes (None if it cannot be read), so the same
    file graded by grade, grade --json and watch is one submission."""
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def is_untouched_stub(path: Path, exercise_id: str, track: str = "numpy") -> bool:
    """Whether the file at `path` is still the exercise's stub in `track` (whitespace aside)."""
    try:
        text = path.read_text(encoding="utf-8")
        stub = get_exercise(exercise_id).stub_path_for(track).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, MhaquizError):
        return False
    return text.split() == stub.split()


def solution_source(exercise: Exercise, track: str = "numpy") -> str:
    """The reference solution's source in `track` (the registry lists a track only when it has one)."""
    return exercise.solution_source_for(check_track(exercise, track))


def solution_name(exercise: Exercise, track: str = "numpy") -> str:
    """Where the reference lives, as the learner reads it: solutions/<id>.py, solutions/torch/<id>.py."""
    return f"solutions/{exercise.id}.py" if track == "numpy" else f"solutions/{track}/{exercise.id}.py"


# --- hints ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HintReveal:
    """What `mhaquiz hint` shows: every hint revealed so far, and whether this call revealed a new one."""

    exercise: Exercise
    shown: List[str]
    total: int
    new: bool
    remembered: bool = True  # False on a read-only store: the next call shows the same hint again
    track: str = "numpy"

    @property
    def left(self) -> int:
        return self.total - len(self.shown)


def reveal_hint(store: "Store", exercise_id: str, lang: str, track: str = "numpy") -> HintReveal:
    """Reveal the next hint of the exercise in `track` (if any is left) and remember it; returns all the
    hints shown so far."""
    exercise = find_exercise(exercise_id)
    check_track(exercise, track)
    texts = hints(exercise, lang, track)
    already = min(store.hints_shown(exercise.id, track), len(texts))
    new = already < len(texts)
    if new:
        already += 1
        if not store.readonly:  # a read-only store: shown, but not remembered (the CLI says so)
            store.set_hints_shown(exercise.id, already, track)
    return HintReveal(exercise, texts[:already], len(texts), new, remembered=not store.readonly, track=track)


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


class LineReader:
    """Lines from `read_line()`, read one at a time on request by one background thread, so that waiting for
    a line can stop at a deadline without losing the line typed later (it is kept for the next wait), and
    nothing is read ahead that nobody asked for."""

    def __init__(self, read_line: Callable[[], str]):
        import queue

        self.read_line = read_line
        self.lines: "queue.Queue" = queue.Queue()
        self.requests = threading.Semaphore(0)
        self.asked = False  # a line has been requested and not delivered yet
        self.thread: Optional[threading.Thread] = None

    def _pump(self) -> None:
        while True:
            self.requests.acquire()
            try:
                line = self.read_line()
            except BaseException as error:  # noqa: B036  (EOFError, a closed stream: the end of input)
                line = error
            self.asked = False
            self.lines.put(line)
            if isinstance(line, BaseException) or line == "":
                return

    def get(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> Optional[str]:
        """The next line, "" at the end of input, or None if `deadline` (on `clock`) comes first."""
        import queue

        if self.thread is None:
            self.thread = threading.Thread(target=self._pump, daemon=True, name="mhaquiz-input")
            self.thread.start()
        if self.lines.empty() and not self.asked:
            self.asked = True
            self.requests.release()
        while True:
            left = deadline - clock()
            if left <= 0:
                return None
            try:
                value = self.lines.get(timeout=min(left, 0.25))
            except queue.Empty:
                continue
            if isinstance(value, KeyboardInterrupt):
                raise value
            if isinstance(value, BaseException) or value == "":
                self.lines.put("")  # the end stays the end for every later read
                return ""
            return value
