"""Progress that is never lost: one SQLite file, `user_home() / "progress.sqlite3"`.

- The schema grows through numbered MIGRATIONS, each recorded in the `migrations` table as it is applied.
- WAL journal and a busy timeout, so two sessions at once wait for each other instead of failing; every
  write is its own short transaction, committed as soon as the answer is given.
- Only a file that truly is not a mhaquiz store (SQLite says it is not a database or is corrupted, its
  integrity check fails, or it holds another program's tables) is renamed aside, with its -wal and -shm
  files, and a fresh one is started; `Store.moved_aside` says where it went so the CLI can warn. A store
  that cannot be written (a read-only mount, an immutable file, no permission) is never moved: opened with
  `write=False` it is read into memory (migrated there, nothing written to disk) and `Store.readonly` is
  set, so every write raises `StoreUnwritable` (one line: why, and to set MHAQUIZ_HOME); opened with
  `write=True` that error is raised at once. A home that cannot be created reads as an empty store.
- `inspect_store()` says what state the store is in without changing anything (for `doctor`).

Tables: `cards` (the scheduler's state per question), `reviews` (every answer), `grades` (every grader run
of an exercise), `hints_shown` (how many hints of an exercise the learner has seen), `exercise_cards` (the
scheduler's state per passed exercise: when to practise it again), `mistakes` (every classic mistake the
grader named), `boosts` (questions a named mistake brought forward in `ask`, until answered), `state`
(small facts by key: the exercise last started or graded, the learner's settings such as `framework`).
Grades, mistakes, exercise cards and hints are kept per exercise and track ("numpy" or "torch", migration 7).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mhaquiz.errors import MhaquizError

DATABASE_NAME = "progress.sqlite3"
BUSY_TIMEOUT_SECONDS = 10.0

MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "001_cards_and_reviews",
        [
            """CREATE TABLE cards (
                question_id TEXT PRIMARY KEY,
                state INTEGER NOT NULL,
                step INTEGER,
                stability REAL,
                difficulty REAL,
                due TEXT NOT NULL,
                last_review TEXT,
                reps INTEGER NOT NULL,
                lapses INTEGER NOT NULL
            )""",
            """CREATE TABLE reviews (
                id INTEGER PRIMARY KEY,
                question_id TEXT NOT NULL,
                topic TEXT NOT NULL,
                rating INTEGER NOT NULL,
                correct INTEGER NOT NULL,
                answer TEXT NOT NULL,
                cram INTEGER NOT NULL,
                reviewed_at TEXT NOT NULL
            )""",
            "CREATE INDEX reviews_by_question ON reviews (question_id)",
        ],
    ),
    (
        "002_grades_and_hints",
        [
            """CREATE TABLE grades (
                id INTEGER PRIMARY KEY,
                exercise_id TEXT NOT NULL,
                passed INTEGER NOT NULL,
                summary TEXT NOT NULL,
                graded_at TEXT NOT NULL
            )""",
            "CREATE INDEX grades_by_exercise ON grades (exercise_id)",
            """CREATE TABLE hints_shown (
                exercise_id TEXT PRIMARY KEY,
                count INTEGER NOT NULL
            )""",
        ],
    ),
    (
        "003_exercise_reviews_mistakes_boosts",
        [
            """CREATE TABLE exercise_cards (
                exercise_id TEXT PRIMARY KEY,
                state INTEGER NOT NULL,
                step INTEGER,
                stability REAL,
                difficulty REAL,
                due TEXT NOT NULL,
                last_review TEXT,
                reps INTEGER NOT NULL,
                lapses INTEGER NOT NULL
            )""",
            """CREATE TABLE mistakes (
                id INTEGER PRIMARY KEY,
                exercise_id TEXT NOT NULL,
                mistake_id TEXT NOT NULL,
                title TEXT NOT NULL,
                graded_at TEXT NOT NULL
            )""",
            """CREATE TABLE boosts (
                question_id TEXT PRIMARY KEY,
                mistake_id TEXT NOT NULL,
                created_at TEXT NOT NULL
            )""",
        ],
    ),
    (
        "004_exercise_fix_the_seed_renamed_repair_article_code",
        [f"UPDATE {table} SET exercise_id = 'repair_article_code' WHERE exercise_id = 'fix_the_seed'"
         for table in ("grades", "hints_shown", "exercise_cards", "mistakes")],
    ),
    (
        # the submission a grade and its mistakes came from (a hash of the file's content), so the same file
        # graded by grade, grade --json and watch counts as one submission; NULL for grades recorded before
        "005_submission_hash",
        ["ALTER TABLE grades ADD COLUMN submission TEXT",
         "ALTER TABLE mistakes ADD COLUMN submission TEXT"],
    ),
    (
        # small facts about what the learner is doing: "current_exercise" (last started or graded), so
        # `task` and `hint` without an id know which exercise is meant
        "006_state",
        ["CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)"],
    ),
    (
        # the track an exercise was done in ("numpy" or "torch"): grades, mistakes, the practice schedule and
        # the hints shown are kept per exercise and track; everything recorded before is NumPy
        "007_tracks",
        ["ALTER TABLE grades ADD COLUMN track TEXT NOT NULL DEFAULT 'numpy'",
         "ALTER TABLE mistakes ADD COLUMN track TEXT NOT NULL DEFAULT 'numpy'",
         """CREATE TABLE exercise_cards_by_track (
                exercise_id TEXT NOT NULL,
                track TEXT NOT NULL,
                state INTEGER NOT NULL,
                step INTEGER,
                stability REAL,
                difficulty REAL,
                due TEXT NOT NULL,
                last_review TEXT,
                reps INTEGER NOT NULL,
                lapses INTEGER NOT NULL,
                PRIMARY KEY (exercise_id, track)
            )""",
         "INSERT INTO exercise_cards_by_track SELECT exercise_id, 'numpy', state, step, stability, difficulty, due,"
         " last_review, reps, lapses FROM exercise_cards",
         "DROP TABLE exercise_cards",
         "ALTER TABLE exercise_cards_by_track RENAME TO exercise_cards",
         """CREATE TABLE hints_shown_by_track (
                exercise_id TEXT NOT NULL,
                track TEXT NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY (exercise_id, track)
            )""",
         "INSERT INTO hints_shown_by_track SELECT exercise_id, 'numpy', count FROM hints_shown",
         "DROP TABLE hints_shown",
         "ALTER TABLE hints_shown_by_track RENAME TO hints_shown"],
    ),
]


@dataclass(frozen=True)
class CardRecord:
    """The scheduler's state for one question (FSRS fields, plus how often it was reviewed and lapsed)."""

    question_id: str
    state: int
    step: int | None
    stability: float | None
    difficulty: float | None
    due: datetime
    last_review: datetime | None
    reps: int
    lapses: int


@dataclass(frozen=True)
class ReviewRecord:
    """One answer: `correct` is the marking (objective) or a rating other than Again (open)."""

    question_id: str
    topic: str
    rating: int
    correct: bool
    answer: str
    cram: bool
    reviewed_at: datetime


@dataclass(frozen=True)
class ExerciseProgress:
    """An exercise's record: how many grades, whether any passed, the best and the latest."""

    exercise_id: str
    attempts: int
    passed: bool
    best: dict
    last_graded_at: datetime
    best_graded_at: datetime | None = None  # when the best attempt was graded
    track: str = "numpy"  # the language the exercise was done in: "numpy" or "torch"


class StoreUnwritable(MhaquizError):
    """The progress store cannot be written: one line saying why (`why`: readonly_fs, permission,
    not_a_folder, or other with `detail`) and what to do; `key` picks the wording (the command's next step)."""

    def __init__(self, key: str, path: Path, why: str, detail: str = ""):
        super().__init__(key, path=path)
        self.path, self.why, self.detail = path, why, detail

    def text(self, lang: str) -> str:
        from mhaquiz.i18n import t

        return t(self.key, lang, path=self.path, why=why_text(self.why, self.detail, lang))


def why_text(why: str, detail: str, lang: str) -> str:
    """The reason a store cannot be written, in `lang`."""
    from mhaquiz.i18n import t

    return t(f"store_why.{why}", lang, detail=detail) if why != "other" else (detail or t("store_why.unknown", lang))


class Store:
    """The progress database. Open with `Store.open()`; use as a context manager or call `close()`."""

    def __init__(self, connection: sqlite3.Connection, path: Path, moved_aside: Path | None = None,
                 readonly: StoreUnwritable | None = None):
        self.connection = connection
        self.path = path
        self.moved_aside = moved_aside
        self.unwritable = readonly  # why nothing can be saved (None: a writable store)

    @property
    def readonly(self) -> bool:
        """Opened read-only: every write raises `self.unwritable`."""
        return self.unwritable is not None

    @classmethod
    def open(cls, path: Path | None = None, timeout: float | None = None, *, write: bool = True) -> "Store":
        """Open (creating and migrating as needed) the database at `path`, default in `user_home()`, waiting
        at most `timeout` seconds (default BUSY_TIMEOUT_SECONDS) for another session's lock.

        A store that cannot be written raises `StoreUnwritable` when `write`; otherwise it is read into
        memory (a missing one, in a home that cannot be created, is empty) and writes raise instead.
        Something at `path` that is not a regular file (a folder, a FIFO) is a usage error: it is never
        opened (a FIFO would block) and never moved."""
        if path is None:
            from mhaquiz.paths import user_home

            path = user_home() / DATABASE_NAME
        timeout = BUSY_TIMEOUT_SECONDS if timeout is None else timeout
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            problem = StoreUnwritable("error.store_folder", path.parent, *_why_from_os_error(error))
            if write:
                raise problem from None
            return cls(_memory_copy(None), path, readonly=problem)
        if path.exists() and not path.is_file():
            raise MhaquizError("error.store_not_file", path=path)
        why = _write_problem(path)
        if why is None:
            try:
                return cls(_connect(path, timeout), path)
            except _NotOurs as not_ours:
                try:
                    moved = _move_aside(path)  # with its WAL files, before the connection closes and removes them
                finally:
                    if not_ours.connection is not None:
                        not_ours.connection.close()
                return cls(_connect(path, timeout), path, moved_aside=moved)
            except _Unwritable as error:
                why = ("other", error.detail)
        problem = StoreUnwritable("error.store_unwritable", path, *why)
        if write:
            raise problem
        return cls(_read_only(path), path, readonly=problem)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- questions -----------------------------------------------------------------------

    def cards(self) -> dict[str, CardRecord]:
        """Every question's scheduling state, by question id."""
        rows = self.connection.execute(f"SELECT {_CARD_COLUMNS} FROM cards")
        return {row[0]: _card(row) for row in rows}

    def card(self, question_id: str) -> CardRecord | None:
        """One question's scheduling state (None if never reviewed outside cram mode)."""
        row = self.connection.execute(f"SELECT {_CARD_COLUMNS} FROM cards WHERE question_id = ?", (question_id,)).fetchone()
        return _card(row) if row else None

    def record_review(self, review: ReviewRecord, card: CardRecord | None) -> None:
        """Save an answer and (unless cramming, when `card` is None) the question's new schedule, atomically;
        an answered question is no longer brought forward by a mistake."""
        with self._transaction():
            self.connection.execute(
                "INSERT INTO reviews (question_id, topic, rating, correct, answer, cram, reviewed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (review.question_id, review.topic, review.rating, int(review.correct), review.answer,
                 int(review.cram), _to_text(review.reviewed_at)),
            )
            if card is not None:
                self._put_card("cards", "question_id", card)
            self.connection.execute("DELETE FROM boosts WHERE question_id = ?", (review.question_id,))

    def review_totals(self) -> dict[str, tuple[int, int]]:
        """(answers, correct answers) per topic."""
        rows = self.connection.execute("SELECT topic, COUNT(*), SUM(correct) FROM reviews GROUP BY topic")
        return {topic: (count, correct) for topic, count, correct in rows}

    def answered_since(self, moment: datetime) -> set[str]:
        """The ids of the questions answered at `moment` or later (cram included)."""
        rows = self.connection.execute("SELECT DISTINCT question_id FROM reviews WHERE reviewed_at >= ?",
                                       (_to_text(moment),))
        return {row[0] for row in rows}

    def review_counts(self) -> dict[str, tuple[int, int]]:
        """(answers, correct answers) per question id, cram included."""
        rows = self.connection.execute("SELECT question_id, COUNT(*), SUM(correct) FROM reviews GROUP BY question_id")
        return {question_id: (count, correct) for question_id, count, correct in rows}

    # --- exercises -----------------------------------------------------------------------

    def record_grade(self, exercise_id: str, passed: bool, summary: dict, graded_at: datetime | None = None,
                     card: CardRecord | None = None, mistakes: tuple = (), boosts: tuple = (),
                     submission: str | None = None, track: str = "numpy") -> None:
        """Save one grader run of the exercise in `track`, atomically with what it changes: the exercise's
        practice schedule in that track (`card`, keyed by exercise id), the mistakes the grader named, and the questions they bring forward (`boosts`:
        (question id, mistake id) pairs); `mistakes` are (mistake id, {zh, en} title) pairs. `summary` is any
        JSON object; a numeric "score" in it ranks attempts. `submission` identifies the file's content (a
        hash), so a mistake in the same file graded again is counted once."""
        graded_at = graded_at or datetime.now(timezone.utc)
        stamp = _to_text(graded_at)
        with self._transaction():
            self.connection.execute(
                "INSERT INTO grades (exercise_id, passed, summary, graded_at, submission, track)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (exercise_id, int(passed), json.dumps(summary, ensure_ascii=False), stamp, submission, track),
            )
            if card is not None:
                self._put_card("exercise_cards", "exercise_id", card, track)
            self.connection.executemany(
                "INSERT INTO mistakes (exercise_id, mistake_id, title, graded_at, submission, track)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(exercise_id, mistake_id, json.dumps(title, ensure_ascii=False), stamp, submission, track)
                 for mistake_id, title in mistakes])
            self.connection.executemany(
                "INSERT OR REPLACE INTO boosts (question_id, mistake_id, created_at) VALUES (?, ?, ?)",
                [(question_id, mistake_id, stamp) for question_id, mistake_id in boosts])

    def exercise_cards(self, track: str = "numpy") -> dict[str, CardRecord]:
        """Every exercise passed in `track`: its practice schedule there, by exercise id (in
        `CardRecord.question_id`)."""
        rows = self.connection.execute(
            f"SELECT {_CARD_COLUMNS.replace('question_id', 'exercise_id')} FROM exercise_cards WHERE track = ?", (track,))
        return {row[0]: _card(row) for row in rows}

    def mistake_counts(self) -> list[tuple[str, str, dict, int]]:
        """(exercise id, mistake id, its {zh, en} title, distinct submissions it was named in), most frequent
        first (a grade recorded without a submission hash counts on its own)."""
        rows = self.connection.execute(
            "SELECT exercise_id, mistake_id, MAX(title), COUNT(DISTINCT COALESCE(submission, 'row:' || id)) AS n"
            " FROM mistakes GROUP BY exercise_id, mistake_id ORDER BY n DESC, exercise_id, mistake_id")
        return [(exercise_id, mistake_id, json.loads(title), count) for exercise_id, mistake_id, title, count in rows]

    def boosts(self) -> dict[str, str]:
        """Questions brought forward by a named mistake: question id -> mistake id."""
        return dict(self.connection.execute("SELECT question_id, mistake_id FROM boosts ORDER BY created_at"))

    def exercise_progress(self, track: str = "numpy") -> dict[str, ExerciseProgress]:
        """Per exercise graded at least once in `track`: attempts, passed ever, and the best attempt's summary
        (best = passed first, then the higher "score" if the summaries have one, then the latest)."""
        rows = self.connection.execute(
            "SELECT exercise_id, passed, summary, graded_at FROM grades WHERE track = ? ORDER BY graded_at, id", (track,)
        )
        progress: dict[str, ExerciseProgress] = {}
        best_key: dict[str, tuple] = {}
        for exercise_id, passed, summary_text, graded_at in rows:
            summary = json.loads(summary_text)
            score = summary.get("score") if isinstance(summary, dict) else None
            key = (bool(passed), score if isinstance(score, (int, float)) else float("-inf"))
            before = progress.get(exercise_id)
            is_best = before is None or key >= best_key[exercise_id]
            if is_best:
                best_key[exercise_id] = key
            progress[exercise_id] = ExerciseProgress(
                exercise_id=exercise_id,
                attempts=(before.attempts if before else 0) + 1,
                passed=bool(passed) or (before is not None and before.passed),
                best=summary if is_best else before.best,
                last_graded_at=_from_text(graded_at),
                best_graded_at=_from_text(graded_at) if is_best else before.best_graded_at,
                track=track,
            )
        return progress

    def current_exercise(self) -> str | None:
        """The exercise last started or graded (None before any)."""
        return self.state("current_exercise")

    def set_current_exercise(self, exercise_id: str) -> None:
        self.set_state("current_exercise", exercise_id)

    def state(self, key: str) -> str | None:
        """A small fact kept by key (`current_exercise`, a setting such as `framework`), None when unset."""
        row = self.connection.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str) -> None:
        with self._transaction():
            self.connection.execute("INSERT OR REPLACE INTO state (key, value, updated_at) VALUES (?, ?, ?)",
                                    (key, value, _to_text(datetime.now(timezone.utc))))

    def hints_shown(self, exercise_id: str, track: str = "numpy") -> int:
        """How many hints of the exercise in `track` the learner has already seen."""
        row = self.connection.execute("SELECT count FROM hints_shown WHERE exercise_id = ? AND track = ?",
                                      (exercise_id, track)).fetchone()
        return row[0] if row else 0

    def set_hints_shown(self, exercise_id: str, count: int, track: str = "numpy") -> None:
        with self._transaction():
            self.connection.execute(
                "INSERT OR REPLACE INTO hints_shown (exercise_id, track, count) VALUES (?, ?, ?)",
                (exercise_id, track, count))

    # --- plumbing ------------------------------------------------------------------------

    def _put_card(self, table: str, key: str, card: CardRecord, track: str | None = None) -> None:
        """Save a schedule: a question's (`track` None) or an exercise's in `track`."""
        columns = _CARD_COLUMNS.replace("question_id", key)
        values = (card.question_id, card.state, card.step, card.stability, card.difficulty, _to_text(card.due),
                  _to_text(card.last_review) if card.last_review else None, card.reps, card.lapses)
        if track is not None:
            columns, values = columns + ", track", values + (track,)
        marks = ", ".join("?" * len(values))
        self.connection.execute(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})", values)

    def _transaction(self) -> "_Transaction":
        if self.unwritable is not None:
            raise self.unwritable
        return _Transaction(self.connection)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): takes the write lock up front, so two writers queue."""

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *rest) -> None:
        self.connection.execute("ROLLBACK" if exc_type else "COMMIT")


_CARD_COLUMNS = "question_id, state, step, stability, difficulty, due, last_review, reps, lapses"


def _card(row: tuple) -> CardRecord:
    return CardRecord(
        question_id=row[0], state=row[1], step=row[2], stability=row[3], difficulty=row[4], due=_from_text(row[5]),
        last_review=_from_text(row[6]) if row[6] else None, reps=row[7], lapses=row[8],
    )


class _NotOurs(Exception):
    """The file is corrupted or belongs to another program. `connection` is still open: SQLite removes the
    WAL files of a connection it closes, so it is closed only once they have been moved aside with it."""

    def __init__(self, connection: "sqlite3.Connection | None" = None):
        super().__init__()
        self.connection = connection


class _Unwritable(Exception):
    """SQLite could open the file, or create it, only for reading (or not at all, for a reason that is not
    corruption): never a reason to move it aside."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


# SQLite's primary result codes (the low byte of an extended code)
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def _sqlite_code(error: sqlite3.Error) -> int | None:
    """The primary result code of a SQLite error (from the message when the code is not attached)."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(error).lower()
    for words, number in (("not a database", _SQLITE_NOTADB), ("malformed", _SQLITE_CORRUPT),
                          ("locked", _SQLITE_BUSY), ("busy", _SQLITE_BUSY)):
        if words in text:
            return number
    return None


def _connect(path: Path, timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
    """Connect, check the file is a healthy mhaquiz database (or new), and apply pending migrations.

    Raises _NotOurs only when the file itself is wrong (not a database, corrupted, failing the integrity
    check, another program's tables); a file SQLite cannot write (read-only, no permission, I/O) raises
    _Unwritable and is left as it is."""
    try:
        connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    except sqlite3.Error as error:
        raise _Unwritable(str(error)) from None
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise _NotOurs(connection)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        _migrate(connection)
        _probe_write(connection)
    except sqlite3.Error as error:
        code = _sqlite_code(error)
        if code in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
            raise _NotOurs(connection) from None  # closed by the caller, after moving the files aside
        connection.close()
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            raise MhaquizError("error.store_locked", path=path) from None
        raise _Unwritable(str(error)) from None
    except _NotOurs as not_ours:
        not_ours.connection = connection  # another program's tables (_migrate): closed by the caller too
        raise
    except BaseException:
        connection.close()
        raise
    return connection


def _probe_write(connection: sqlite3.Connection) -> None:
    """Raise SQLite's own error if this connection cannot write (SQLite silently opens a file it may not
    write read-only): a table created and rolled back, nothing left behind."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("CREATE TABLE main.mhaquiz_write_probe (x INTEGER)")
    finally:
        connection.execute("ROLLBACK")


def _write_problem(path: Path) -> tuple[str, str] | None:
    """Why the store at `path` (in an existing folder) cannot be written, or None when nothing says so:
    a read-only file system (a read-only mount), or no write permission on the folder or the file (an
    immutable file too, even for root). SQLite's own refusal is caught later; this avoids even trying."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return ("readonly_fs", "")
    except (OSError, AttributeError):  # no statvfs (Windows)
        pass
    if not os.access(folder, os.W_OK | os.X_OK):
        return ("permission", "")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists() and not os.access(f"{path}{suffix}", os.R_OK | os.W_OK):
            return ("permission", "")
    return None


def _why_from_os_error(error: OSError) -> tuple[str, str]:
    """(why, detail) for an OSError met making the store's folder."""
    if error.errno == errno.EROFS:
        return ("readonly_fs", "")
    if error.errno in (errno.EACCES, errno.EPERM):
        return ("permission", "")
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return ("not_a_folder", "")
    return ("other", error.strerror or str(error))


def _read_only(path: Path) -> sqlite3.Connection:
    """A healthy store that cannot be written, copied into memory and migrated there (nothing is written to
    disk, no lock is kept). Missing: an empty store. Not a mhaquiz store: a usage error (it cannot be moved
    aside from here)."""
    if not path.exists():
        return _memory_copy(None)
    quoted = urllib.parse.quote(str(path.resolve()))
    last: sqlite3.Error | None = None
    # mode=ro reads the WAL when its -shm can be used; immutable=1 reads a cleanly closed store on a
    # read-only mount, where SQLite cannot make the -shm file mode=ro needs
    for options in ("mode=ro", "immutable=1"):
        try:
            source = sqlite3.connect(f"file:{quoted}?{options}", uri=True, isolation_level=None)
        except sqlite3.Error as error:
            last = error
            continue
        try:
            if source.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise MhaquizError("error.store_not_ours_readonly", path=path)
            return _memory_copy(source, path)
        except sqlite3.Error as error:
            last = error
            if _sqlite_code(error) in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
                raise MhaquizError("error.store_not_ours_readonly", path=path) from None
        finally:
            source.close()
    raise MhaquizError("error.store_open", path=path, reason=str(last))


def _memory_copy(source: sqlite3.Connection | None, path: Path | None = None) -> sqlite3.Connection:
    """An in-memory database holding `source` (or nothing), migrated to the current schema."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    if source is not None:
        source.backup(memory)
    try:
        _migrate(memory)
    except _NotOurs:
        memory.close()
        raise MhaquizError("error.store_not_ours_readonly", path=path) from None
    except BaseException:
        memory.close()
        raise
    return memory


def inspect_store(path: Path | None = None) -> dict:
    """The store's state without changing anything (for `doctor`): {"path", "state", "why" ({why, detail}
    or None), "answers", "grades"}. state: "ok" (writable), "readonly" (healthy, cannot be written: why), "missing"
    (created at first use), "uncreatable" (its folder cannot be made: why), "not_ours" (moved aside at
    first use), "newer" (written by a newer mhaquiz), "unreadable" (cannot be opened: why)."""
    if path is None:
        from mhaquiz.paths import user_home

        path = user_home() / DATABASE_NAME
    facts = {"path": str(path), "state": "ok", "why": None, "answers": None, "grades": None}
    if not path.parent.is_dir():
        existing = next((parent for parent in path.parent.parents if parent.exists()), None)
        if path.parent.exists() or existing is None or not existing.is_dir():
            blocked = ("not_a_folder", "")
        else:
            blocked = _write_problem(existing / DATABASE_NAME)  # can the missing folders be made there?
        facts.update(state="uncreatable" if blocked else "missing", why=_why_fact(blocked))
        return facts
    if path.exists() and not path.is_file():
        facts.update(state="unreadable", why={"why": "not_a_file", "detail": ""})
        return facts
    blocked = _write_problem(path)
    if not path.exists():
        facts.update(state="uncreatable" if blocked else "missing", why=_why_fact(blocked))
        return facts
    try:
        connection = _read_only(path)
    except MhaquizError as error:
        facts.update(state="not_ours" if error.key == "error.store_not_ours_readonly" else
                     "newer" if error.key == "error.store_newer" else "unreadable",
                     why={"why": "other", "detail": error.text("en"),
                          "text": {"zh": error.text("zh"), "en": error.text("en")}})
        return facts
    try:
        facts["answers"] = connection.execute("SELECT COUNT(*) FROM reviews").fetchone()[0]
        facts["grades"] = connection.execute("SELECT COUNT(*) FROM grades").fetchone()[0]
    finally:
        connection.close()
    if blocked:
        facts.update(state="readonly", why=_why_fact(blocked))
    return facts


def _why_fact(blocked: tuple[str, str] | None) -> dict | None:
    return {"why": blocked[0], "detail": blocked[1]} if blocked else None


def _migrate(connection: sqlite3.Connection) -> None:
    """Apply the migrations not yet recorded, each in its own transaction (safe against a concurrent opener)."""
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "migrations" not in tables:
        raise _NotOurs
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = {row[0] for row in connection.execute("SELECT id FROM migrations")}
        if applied and max(applied) > len(MIGRATIONS):
            raise MhaquizError("error.store_newer", schema=max(applied))
        for number, (name, statements) in enumerate(MIGRATIONS, start=1):
            if number in applied:
                continue
            for statement in statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)",
                (number, name, _to_text(datetime.now(timezone.utc))),
            )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _move_aside(path: Path) -> Path:
    """Rename the unusable database (and its WAL files) to `<name>.broken-<timestamp>`; return the new path."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        try:
            source.rename(Path(f"{target}{suffix}"))
        except FileNotFoundError:  # no WAL file, or another session moved it first
            pass
        except OSError:
            if not suffix:  # it cannot be moved: never overwrite it, say so
                raise MhaquizError("error.store_not_ours_readonly", path=path) from None
    return target


def _to_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)
