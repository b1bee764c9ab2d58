"""The progress store: migrations, durability, concurrency, and unreadable files moved aside."""

import multiprocessing
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.errors import MhaquizError
from mhaquiz.paths import user_home
from mhaquiz.store import MIGRATIONS, CardRecord, ReviewRecord, Store

BASIC = Path(__file__).parent / "banks" / "basic"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
runner = CliRunner()


def a_review(question_id="q", correct=True, when=T0) -> ReviewRecord:
    return ReviewRecord(question_id, "topic", 3 if correct else 1, correct, "answer", False, when)


def test_new_store_records_its_migrations_in_wal_mode():
    with Store.open() as store:
        assert store.path == user_home() / "progress.sqlite3"
        rows = store.connection.execute("SELECT id, name FROM migrations ORDER BY id").fetchall()
        assert rows == [(number, name) for number, (name, _) in enumerate(MIGRATIONS, start=1)]
        assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.moved_aside is None
    with Store.open() as again:  # reopening applies nothing twice
        assert again.connection.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)


def test_a_store_from_an_older_version_is_migrated_forward(tmp_path):
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for statement in MIGRATIONS[0][1]:
        connection.execute(statement)
    connection.execute("INSERT INTO migrations VALUES (1, ?, '2025-01-01T00:00:00+00:00')", (MIGRATIONS[0][0],))
    connection.commit()
    connection.close()
    with Store.open(path) as store:
        store.record_grade("softmax", True, {"cases": 3})
        assert store.connection.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)


def test_cards_and_reviews_round_trip():
    card = CardRecord("q", 2, None, 3.5, 5.1, T0 + timedelta(days=3), T0, reps=2, lapses=1)
    with Store.open() as store:
        store.record_review(a_review(), card)
        store.record_review(a_review(correct=False), None)  # cram: the card is left alone
        assert store.cards() == {"q": card}
        assert store.review_totals() == {"topic": (2, 1)}


def test_garbage_file_is_moved_aside_with_a_one_line_warning():
    home = user_home()
    home.mkdir(parents=True)
    (home / "progress.sqlite3").write_bytes(b"this is not a database\x00" * 100)
    result = runner.invoke(app, ["stats", "--bank", str(BASIC), "--json"])
    assert result.exit_code == 0, result.output
    warning = result.stderr.strip()
    assert warning.startswith("Warning: ") and "moved it to" in warning and "\n" not in warning
    moved = list(home.glob("progress.sqlite3.broken-*"))
    assert len(moved) == 1 and moved[0].read_bytes().startswith(b"this is not a database")
    assert '"reviews": 0' in result.stdout
    with Store.open() as store:  # and the fresh one works
        assert store.moved_aside is None


def test_another_programs_database_is_moved_aside():
    home = user_home()
    home.mkdir(parents=True)
    foreign = sqlite3.connect(home / "progress.sqlite3")
    foreign.execute("CREATE TABLE recipes (name TEXT)")
    foreign.commit()
    foreign.close()
    with Store.open() as store:
        assert store.moved_aside is not None and store.moved_aside.name.startswith("progress.sqlite3.broken-")
        assert sqlite3.connect(store.moved_aside).execute("SELECT name FROM sqlite_master").fetchone() == ("recipes",)
        store.record_review(a_review(), None)


def test_corrupted_pages_are_detected_and_moved_aside():
    with Store.open() as store:
        for index in range(300):
            store.record_review(a_review(f"q{index}"), None)
        store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        path = store.path
    data = bytearray(path.read_bytes())
    page_size = 4096
    data[page_size * 2 : page_size * 4] = b"\xff" * (page_size * 2)
    path.write_bytes(bytes(data))
    with Store.open() as store:
        assert store.moved_aside is not None
        assert store.review_totals() == {}


def test_a_newer_schema_is_not_moved_aside_but_refused():
    with Store.open() as store:
        store.connection.execute("INSERT INTO migrations VALUES (99, 'from the future', '2030-01-01T00:00:00+00:00')")
        path = store.path
    with pytest.raises(MhaquizError, match="newer mhaquiz"):
        Store.open()
    assert path.exists() and not list(path.parent.glob("*.broken-*"))


def _write_many(path: str, worker: int, count: int) -> None:
    with Store.open(Path(path)) as store:
        for index in range(count):
            store.record_review(a_review(f"w{worker}-{index}"), CardRecord(f"w{worker}-{index}", 1, 0, 1.0, 5.0, T0, T0, 1, 0))
            store.record_grade(f"exercise-{worker}", index % 2 == 0, {"index": index})


def test_two_sessions_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite3"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(str(path), worker, 150)) for worker in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    with Store.open(path) as store:
        assert store.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(store.cards()) == 300
        assert sum(count for count, _ in store.review_totals().values()) == 300
        progress = store.exercise_progress()
    assert {name: p.attempts for name, p in progress.items()} == {"exercise-0": 150, "exercise-1": 150}


def test_grades_give_status_and_best_result():
    with Store.open() as store:
        store.record_grade("softmax", False, {"score": 0.5}, graded_at=T0)
        store.record_grade("softmax", False, {"score": 0.8}, graded_at=T0 + timedelta(minutes=1))
        store.record_grade("softmax", False, {"score": 0.6}, graded_at=T0 + timedelta(minutes=2))
        store.record_grade("attention", False, {"score": 0.9}, graded_at=T0)
        store.record_grade("attention", True, {"score": 0.7}, graded_at=T0 + timedelta(minutes=1))
        progress = store.exercise_progress()
    softmax, attention = progress["softmax"], progress["attention"]
    assert (softmax.attempts, softmax.passed, softmax.best) == (3, False, {"score": 0.8})
    assert softmax.last_graded_at == T0 + timedelta(minutes=2)
    assert (attention.attempts, attention.passed, attention.best) == (2, True, {"score": 0.7})


def test_hints_shown_are_remembered():
    with Store.open() as store:
        assert store.hints_shown("softmax") == 0
        store.set_hints_shown("softmax", 2)
    with Store.open() as store:
        assert store.hints_shown("softmax") == 2


def test_of_equal_attempts_the_latest_is_the_best_and_its_date_is_shown():
    with Store.open() as store:
        store.record_grade("softmax", True, {"score": 1.0, "file": "first.py"}, graded_at=T0)
        store.record_grade("softmax", True, {"score": 1.0, "file": "second.py"}, graded_at=T0 + timedelta(days=2))
        store.record_grade("softmax", False, {"score": 0.5, "file": "third.py"}, graded_at=T0 + timedelta(days=3))
        softmax = store.exercise_progress()["softmax"]
    assert softmax.best == {"score": 1.0, "file": "second.py"}
    assert softmax.best_graded_at == T0 + timedelta(days=2) and softmax.last_graded_at == T0 + timedelta(days=3)


def test_an_answer_and_its_schedule_are_saved_together_or_not_at_all(monkeypatch):
    """A failure while saving the new schedule (disk full, a crash) must not leave the answer without it."""
    card = CardRecord("q", 2, None, 3.5, 5.1, T0 + timedelta(days=3), T0, reps=2, lapses=1)
    with Store.open() as store:
        def fail(*args):
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(store, "_put_card", fail)
        with pytest.raises(sqlite3.OperationalError):
            store.record_review(a_review(), card)
    with Store.open() as store:
        assert store.review_totals() == {} and store.cards() == {}
