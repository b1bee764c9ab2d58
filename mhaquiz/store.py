"""Progress that is never lost: one SQLite file, `user_home() / "progress.sqlite3"`.

- The schema grows through numbered MIGRATIONS, each recorded in the `migrations` table as it is applied.
- WAL journal and a busy timeout, so two sessions at once wait for each other instead of failing; every
  write is its own short transaction, committed as soon as the answer is given.
- A file that is not a readable mhaquiz database (corrupted, or some other program's) is renamed aside with a
  timestamp and a fresh one is started; `Store.moved_aside` says where it went so the CLI can warn.

Tables: `cards` (the scheduler's state per question), `reviews` (every answer), `grades` (every grader run
of an exercise), `hints_shown` (how many hints of an exercise the learner has seen), `exercise_cards` (the
scheduler's state per passed exercise: when to practise it again), `mistakes` (every classic mistake the
grader named), `boosts` (questions a named mistake brought forward in `ask`, until answered).
"""

from __future__ import annotations

import json
import sqlite3
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


class Store:
    """The progress database. Open with `Store.open()`; use as a context manager or call `close()`."""

    def __init__(self, connection: sqlite3.Connection, path: Path, moved_aside: Path | None = None):
        self.connection = connection
        self.path = path
        self.moved_aside = moved_aside

    @classmethod
    def open(cls, path: Path | None = None, timeout: float | None = None) -> "Store":
        """Open (creating and migrating as needed) the database at `path`, default in `user_home()`, waiting
        at most `timeout` seconds (default BUSY_TIMEOUT_SECONDS) for another session's lock.

        Something at `path` that is not a regular file (a folder, a FIFO) is a usage error: it is never
        opened (a FIFO would block) and never moved."""
        if path is None:
            from mhaquiz.paths import user_home

            path = user_home() / DATABASE_NAME
        timeout = BUSY_TIMEOUT_SECONDS if timeout is None else timeout
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise MhaquizError("error.store_folder", path=path.parent, reason=error.strerror or str(error)) from None
        if path.exists() and not path.is_file():
            raise MhaquizError("error.store_not_file", path=path)
        try:
            return cls(_connect(path, timeout), path)
        except _NotOurs:
            moved = _move_aside(path)
            return cls(_connect(path, timeout), path, moved_aside=moved)

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

    # --- exercises -----------------------------------------------------------------------

    def record_grade(self, exercise_id: str, passed: bool, summary: dict, graded_at: datetime | None = None,
                     card: CardRecord | None = None, mistakes: tuple = (), boosts: tuple = ()) -> None:
        """Save one grader run, atomically with what it changes: the exercise's practice schedule (`card`,
        keyed by exercise id), the mistakes the grader named, and the questions they bring forward (`boosts`:
        (question id, mistake id) pairs); `mistakes` are (mistake id, {zh, en} title) pairs. `summary` is any
        JSON object; a numeric "score" in it ranks attempts."""
        graded_at = graded_at or datetime.now(timezone.utc)
        stamp = _to_text(graded_at)
        with self._transaction():
            self.connection.execute(
                "INSERT INTO grades (exercise_id, passed, summary, graded_at) VALUES (?, ?, ?, ?)",
                (exercise_id, int(passed), json.dumps(summary, ensure_ascii=False), stamp),
            )
            if card is not None:
                self._put_card("exercise_cards", "exercise_id", card)
            self.connection.executemany(
                "INSERT INTO mistakes (exercise_id, mistake_id, title, graded_at) VALUES (?, ?, ?, ?)",
                [(exercise_id, mistake_id, json.dumps(title, ensure_ascii=False), stamp) for mistake_id, title in mistakes])
            self.connection.executemany(
                "INSERT OR REPLACE INTO boosts (question_id, mistake_id, created_at) VALUES (?, ?, ?)",
                [(question_id, mistake_id, stamp) for question_id, mistake_id in boosts])

    def exercise_cards(self) -> dict[str, CardRecord]:
        """Every passed exercise's practice schedule, by exercise id (in `CardRecord.question_id`)."""
        rows = self.connection.execute(f"SELECT {_CARD_COLUMNS.replace('question_id', 'exercise_id')} FROM exercise_cards")
        return {row[0]: _card(row) for row in rows}

    def mistake_counts(self) -> list[tuple[str, str, dict, int]]:
        """(exercise id, mistake id, its {zh, en} title, times named), most frequent first."""
        rows = self.connection.execute(
            "SELECT exercise_id, mistake_id, MAX(title), COUNT(*) FROM mistakes GROUP BY exercise_id, mistake_id"
            " ORDER BY COUNT(*) DESC, exercise_id, mistake_id")
        return [(exercise_id, mistake_id, json.loads(title), count) for exercise_id, mistake_id, title, count in rows]

    def boosts(self) -> dict[str, str]:
        """Questions brought forward by a named mistake: question id -> mistake id."""
        return dict(self.connection.execute("SELECT question_id, mistake_id FROM boosts ORDER BY created_at"))

    def exercise_progress(self) -> dict[str, ExerciseProgress]:
        """Per exercise graded at least once: attempts, passed ever, and the best attempt's summary
        (best = passed first, then the higher "score" if the summaries have one, then the latest)."""
        rows = self.connection.execute(
            "SELECT exercise_id, passed, summary, graded_at FROM grades ORDER BY graded_at, id"
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
            )
        return progress

    def hints_shown(self, exercise_id: str) -> int:
        """How many hints of the exercise the learner has already seen."""
        row = self.connection.execute("SELECT count FROM hints_shown WHERE exercise_id = ?", (exercise_id,)).fetchone()
        return row[0] if row else 0

    def set_hints_shown(self, exercise_id: str, count: int) -> None:
        with self._transaction():
            self.connection.execute(
                "INSERT OR REPLACE INTO hints_shown (exercise_id, count) VALUES (?, ?)", (exercise_id, count)
            )

    # --- plumbing ------------------------------------------------------------------------

    def _put_card(self, table: str, key: str, card: CardRecord) -> None:
        columns = _CARD_COLUMNS.replace("question_id", key)
        self.connection.execute(
            f"INSERT OR REPLACE INTO {table} ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (card.question_id, card.state, card.step, card.stability, card.difficulty, _to_text(card.due),
             _to_text(card.last_review) if card.last_review else None, card.reps, card.lapses),
        )

    def _transaction(self) -> "_Transaction":
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
    """The file is corrupted or belongs to another program."""


def _connect(path: Path, timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
    """Connect, check the file is a healthy mhaquiz database (or new), and apply pending migrations."""
    try:
        connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    except sqlite3.OperationalError as error:
        raise MhaquizError("error.store_open", path=path, reason=str(error)) from None
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise _NotOurs
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        _migrate(connection)
    except (_NotOurs, sqlite3.DatabaseError) as error:
        connection.close()
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            raise MhaquizError("error.store_locked", path=path) from None
        raise _NotOurs from None
    except BaseException:
        connection.close()
        raise
    return connection


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
    return target


def _to_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)
