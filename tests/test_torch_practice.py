"""The PyTorch track in the practice loop: the learner's framework (--torch / --numpy, MHAQUIZ_FRAMEWORK,
`mhaquiz config framework`), the torch stub, task, hints, solution, reset and interview, and progress kept per
exercise and track (store migration 7), in list, stats and the practice schedule; doctor's PyTorch line.

Through the CLI runner (piped) and the core API; MHAQUIZ_HOME is a fresh folder per test (conftest). Only the
tests that grade a PyTorch file need torch (pytest.importorskip).
"""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.practice import framework
from mhaquiz.practice import loop as practice
from mhaquiz.store import MIGRATIONS, Store

runner = CliRunner()
ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "en_US.UTF-8", "MHAQUIZ_FRAMEWORK": ""}
MHA = get_exercise("mha_forward")
MHA_CASES = len(MHA.checks().make_cases(0))
TORCH_STUB = MHA.stub_path_for("torch").read_text(encoding="utf-8")
NUMPY_STUB = MHA.stub_path.read_text(encoding="utf-8")
ONE_QUESTION = """\
topic: attention
questions:
  - id: att-scale
    difficulty: easy
    type: mcq
    prompt: {zh: 分数除以什么？, en: "What are the scores divided by?"}
    choices:
      a: {zh: "d_k", en: "d_k"}
      b: {zh: "sqrt(d_k)", en: "sqrt(d_k)"}
    answer: [b]
    explanation: {zh: 除以 sqrt(d_k)。, en: By sqrt(d_k).}
    source: Vaswani et al. 2017
"""


@pytest.fixture
def work(tmp_path):
    """A folder of the learner's (MHAQUIZ_HOME lives beside it in tmp_path)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def invoke(*args, input=None, **env):
    return runner.invoke(app, [str(arg) for arg in args], input=input, env={**ENGLISH, **env})


def first_line(exercise, lang: str, track: str) -> str:
    """The task's first sentence after its title (the titles of the two tracks share a prefix)."""
    return [line for line in exercise.prompt_for(lang, track).splitlines() if line.strip()][1]


def test_the_two_tracks_prompts_and_stubs_differ():
    """What the other tests tell apart really differs (or they could not fail)."""
    assert TORCH_STUB != NUMPY_STUB and "import torch" in TORCH_STUB
    for lang in ("en", "zh"):
        assert first_line(MHA, lang, "torch") not in MHA.prompt(lang)
        assert first_line(MHA, lang, "numpy") in MHA.prompt(lang)


# --- start and task in the chosen track --------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_start_torch_writes_the_torch_stub_and_the_task_shows_the_torch_prompt(work, lang):
    result = invoke("start", "mha_forward", "--torch", "--dir", work, "--lang", lang)
    assert result.exit_code == 0, result.output
    assert (work / "mha_forward.py").read_text(encoding="utf-8") == TORCH_STUB
    assert first_line(MHA, lang, "torch") in result.stdout and first_line(MHA, lang, "numpy") not in result.stdout
    # the commands it suggests stay in the track (no framework saved: the flag is needed)
    assert "mhaquiz hint mha_forward --torch" in result.stdout

    task = invoke("task", "mha_forward", "--torch", "--lang", lang)
    assert task.exit_code == 0 and first_line(MHA, lang, "torch") in task.stdout
    assert "mhaquiz start mha_forward --torch" in task.stdout
    plain = invoke("task", "mha_forward", "--lang", lang)
    assert first_line(MHA, lang, "numpy") in plain.stdout and first_line(MHA, lang, "torch") not in plain.stdout


def test_start_numpy_flag_writes_the_numpy_stub_and_a_file_of_the_other_track_is_kept_and_named(work):
    assert invoke("start", "mha_forward", "--numpy", "--dir", work).exit_code == 0
    mine = work / "mha_forward.py"
    assert mine.read_text(encoding="utf-8") == NUMPY_STUB
    other = invoke("start", "mha_forward", "--torch", "--dir", work)
    assert other.exit_code == 0 and mine.read_text(encoding="utf-8") == NUMPY_STUB  # never overwritten
    assert f"{mine} already exists and is written in NumPy: kept as it is. To start the PyTorch form instead" in other.stdout
    command = f"mhaquiz start mha_forward --dir {work} --torch --force"
    assert command in other.stdout
    again = invoke(*command.split()[1:])  # the command shown does what it says
    assert again.exit_code == 0 and mine.read_text(encoding="utf-8") == TORCH_STUB
    [aside] = [path for path in work.iterdir() if path != mine]
    assert aside.read_text(encoding="utf-8") == NUMPY_STUB


def test_config_framework_torch_then_start_without_a_flag_writes_the_torch_stub(work):
    shown = invoke("config")
    assert shown.exit_code == 0 and shown.stdout.startswith("framework: numpy (the default;")
    saved = invoke("config", "framework", "torch")
    assert saved.exit_code == 0, saved.output
    assert saved.stdout.startswith("Framework saved: torch.")
    with Store.open() as store:
        assert store.state("framework") == "torch"
    assert invoke("config").stdout == "framework: torch (saved with mhaquiz config framework)\n"
    assert json.loads(invoke("config", "--json").stdout) == {
        "framework": {"value": "torch", "source": "config", "saved": "torch", "env": None}}

    result = invoke("start", "mha_forward", "--dir", work)
    assert result.exit_code == 0 and (work / "mha_forward.py").read_text(encoding="utf-8") == TORCH_STUB
    assert "mhaquiz hint mha_forward\n" in result.stdout  # saved: the plain command is already in PyTorch
    assert first_line(MHA, "en", "torch") in invoke("task", "mha_forward").stdout
    # --numpy still picks NumPy for one command, and its suggestions carry the flag
    numpy = invoke("start", "softmax", "--numpy", "--dir", work)
    assert (work / "softmax.py").read_text(encoding="utf-8") == get_exercise("softmax").stub_path.read_text(encoding="utf-8")
    assert "mhaquiz hint softmax --numpy" in numpy.stdout
    chinese = invoke("config", "--lang", "zh")
    assert chinese.stdout == "framework（框架）：torch（用 mhaquiz config framework 保存）\n"


@pytest.mark.parametrize("saved, env, expected", [("torch", "numpy", "numpy"), ("numpy", "torch", "torch"),
                                                  (None, "torch", "torch"), ("torch", "", "torch")])
def test_mhaquiz_framework_overrides_the_saved_setting(work, saved, env, expected):
    if saved:
        assert invoke("config", "framework", saved).exit_code == 0
    result = invoke("start", "mha_forward", "--dir", work, MHAQUIZ_FRAMEWORK=env)
    assert result.exit_code == 0, result.output
    stub = TORCH_STUB if expected == "torch" else NUMPY_STUB
    assert (work / "mha_forward.py").read_text(encoding="utf-8") == stub
    if env:
        shown = invoke("config", MHAQUIZ_FRAMEWORK=env)
        assert shown.stdout.startswith(f"framework: {env} (from MHAQUIZ_FRAMEWORK")


def test_a_flag_overrides_the_environment_and_the_setting(work):
    assert invoke("config", "framework", "numpy").exit_code == 0
    assert invoke("start", "mha_forward", "--torch", "--dir", work, MHAQUIZ_FRAMEWORK="numpy").exit_code == 0
    assert (work / "mha_forward.py").read_text(encoding="utf-8") == TORCH_STUB
    assert invoke("start", "softmax", "--numpy", "--dir", work, MHAQUIZ_FRAMEWORK="torch").exit_code == 0
    assert "import torch" not in (work / "softmax.py").read_text(encoding="utf-8")


def test_resolve_precedence_in_the_core():
    class Saved:
        def __init__(self, value):
            self.value = value

        def state(self, key):
            return self.value if key == "framework" else None

    assert framework.resolve(None, Saved(None), {}) == framework.Framework("numpy", "default")
    assert framework.resolve(None, Saved("torch"), {}) == framework.Framework("torch", "config")
    assert framework.resolve(None, Saved("torch"), {"MHAQUIZ_FRAMEWORK": "numpy"}) == framework.Framework("numpy", "env")
    assert framework.resolve("torch", Saved("numpy"), {"MHAQUIZ_FRAMEWORK": "numpy"}) == framework.Framework("torch", "flag")
    assert framework.resolve(None, Saved("numpy"), {"MHAQUIZ_FRAMEWORK": " Torch "}).name == "torch"


@pytest.mark.parametrize("lang, message", [
    ("en", "Error: unknown framework 'jax': the frameworks are numpy | torch\n"),
    ("zh", "错误：未知的框架 'jax'：可选的有 numpy | torch\n")])
def test_an_unknown_framework_is_one_line_and_exit_2(work, lang, message):
    result = invoke("config", "framework", "jax", "--lang", lang)
    assert result.exit_code == 2 and result.stderr == message and result.stdout == ""
    with Store.open() as store:
        assert store.state("framework") is None
    from_env = invoke("start", "mha_forward", "--dir", work, "--lang", lang, MHAQUIZ_FRAMEWORK="jax")
    assert from_env.exit_code == 2 and from_env.stderr.count("\n") == 1 and "MHAQUIZ_FRAMEWORK=jax" in from_env.stderr
    assert list(work.iterdir()) == []
    setting = invoke("config", "colour", "red", "--lang", lang)
    assert setting.exit_code == 2 and setting.stderr.count("\n") == 1 and "'colour'" in setting.stderr
    assert "Traceback" not in result.output + from_env.output + setting.output


def test_a_saved_framework_this_version_does_not_know_is_a_usage_error(work):
    with Store.open() as store:
        store.set_state("framework", "jax")
    result = invoke("start", "mha_forward", "--dir", work)
    assert result.exit_code == 2
    assert result.stderr == ("Error: the saved framework 'jax' is not one this mhaquiz knows: save one of numpy | torch "
                             "again (mhaquiz config framework numpy)\n")


@pytest.mark.parametrize("args", [["start", "repair_article_code", "--torch", "--dir", "{dir}"],
                                  ["task", "repair_article_code", "--torch"], ["hint", "repair_article_code", "--torch"],
                                  ["solution", "repair_article_code", "--torch", "--yes"],
                                  ["reset", "repair_article_code", "--torch", "--yes", "--dir", "{dir}"],
                                  ["interview", "-e", "repair_article_code", "--torch", "--dir", "{dir}"]])
def test_an_exercise_without_a_torch_form_in_torch_lists_its_tracks(work, args):
    result = invoke(*[arg.replace("{dir}", str(work)) for arg in args], input="")
    assert result.exit_code == 2, result.output
    assert result.stderr == "Error: exercise repair_article_code has no PyTorch form (its tracks: numpy)\n"
    assert list(work.iterdir()) == []
    chinese = invoke(*[arg.replace("{dir}", str(work)) for arg in args], "--lang", "zh", input="")
    assert chinese.stderr == "错误：练习 repair_article_code 没有 PyTorch 版（它可以用：numpy）\n"


def test_without_torch_start_writes_the_stub_and_warns_in_one_line(work, monkeypatch):
    monkeypatch.setattr(framework, "torch_installed", lambda: False)
    result = invoke("start", "mha_forward", "--torch", "--dir", work)
    assert result.exit_code == 0 and (work / "mha_forward.py").read_text(encoding="utf-8") == TORCH_STUB
    assert result.stderr == ('Note: PyTorch is not installed here, so this file cannot be graded yet: '
                             'pip install "mhaquiz[torch]" (the CPU-only build: see the README)\n')
    numpy = invoke("start", "softmax", "--dir", work)
    assert numpy.exit_code == 0 and numpy.stderr == ""
    monkeypatch.setattr(framework, "torch_installed", lambda: True)
    assert invoke("start", "rope", "--torch", "--dir", work).stderr == ""


# --- hints, solution, reset per track ------------------------------------------------------------------


def test_hints_are_counted_per_track_and_torch_hints_are_used_when_given(work, monkeypatch):
    shared = practice.hints(MHA, "en")
    monkeypatch.delitem(MHA.meta, "torch_hints")  # without torch_hints, the PyTorch track shows the shared ones
    first = invoke("hint", "mha_forward", "--torch")
    assert first.exit_code == 0 and "Multi-head attention: forward (PyTorch) · hint 1 of" in first.stdout
    assert shared[0] in first.stdout and "mhaquiz hint mha_forward --torch again" in first.stdout
    invoke("hint", "mha_forward", "--torch")
    with Store.open() as store:
        assert (store.hints_shown("mha_forward", "torch"), store.hints_shown("mha_forward", "numpy")) == (2, 0)
    numpy = invoke("hint", "mha_forward")
    assert "hint 1 of" in numpy.stdout and "(PyTorch)" not in numpy.stdout
    assert invoke("reset", "mha_forward", "--torch", "--yes", "--dir", work).exit_code == 0
    with Store.open() as store:
        assert (store.hints_shown("mha_forward", "torch"), store.hints_shown("mha_forward", "numpy")) == (0, 1)

    own = {"en": "Use nn.Linear for the four projections.", "zh": "四个投影都用 nn.Linear。"}
    monkeypatch.setitem(MHA.meta, "torch_hints", [own])
    assert practice.hints(MHA, "zh", "torch") == [own["zh"]] and practice.hints(MHA, "en", "numpy") == shared
    shown = invoke("hint", "mha_forward", "--torch", "--lang", "zh")
    assert own["zh"] in shown.stdout and "提示 1/1" in shown.stdout


def test_solution_torch_yes_prints_the_torch_reference(work):
    torch_reference = MHA.solution_path_for("torch").read_text(encoding="utf-8")
    shown = invoke("solution", "mha_forward", "--torch", "--yes")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == torch_reference and torch_reference != MHA.solution_source
    assert "(solutions/torch/mha_forward.py)" in shown.stderr
    assert invoke("solution", "mha_forward", "--yes").stdout == MHA.solution_source
    # passing in NumPy does not give the PyTorch reference away without asking
    mine = work / "mha_forward.py"
    mine.write_text(MHA.solution_source, encoding="utf-8")
    assert invoke("grade", mine).exit_code == 0
    assert invoke("solution", "mha_forward").stdout == MHA.solution_source
    asked = invoke("solution", "mha_forward", "--torch")
    assert asked.exit_code == 2 and "--yes" in asked.stderr and asked.stdout == ""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_reset_in_torch_writes_the_torch_stub(work, lang):
    mine = work / "mha_forward.py"
    mine.write_text("# my work\n", encoding="utf-8")
    assert invoke("config", "framework", "torch").exit_code == 0
    result = invoke("reset", "mha_forward", "--yes", "--dir", work, "--lang", lang)
    assert result.exit_code == 0, result.output
    assert mine.read_text(encoding="utf-8") == TORCH_STUB
    [aside] = [path for path in work.iterdir() if path != mine]
    assert aside.read_text(encoding="utf-8") == "# my work\n"
    assert invoke("reset", "mha_forward", "--numpy", "--yes", "--dir", work).exit_code == 0
    assert mine.read_text(encoding="utf-8") == NUMPY_STUB


# --- interview in torch --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_interview_torch_writes_a_torch_stub_and_shows_the_torch_task(work, lang):
    bank = work / "bank.yaml"
    bank.write_text(ONE_QUESTION, encoding="utf-8")
    work = work / "work"
    work.mkdir()
    result = invoke("interview", "--torch", "--minutes", "5", "--bank", bank, "--exercise", "mha_forward",
                    "--dir", work, "--seed", "1", "--lang", lang, input="b\ndone\n")
    assert result.exit_code == 0, result.output
    written = work / "interview_mha_forward.py"
    assert written.read_text(encoding="utf-8") == TORCH_STUB
    assert first_line(MHA, lang, "torch") in result.stdout and first_line(MHA, lang, "numpy") not in result.stdout
    assert ("not attempted" if lang == "en" else "未作答") in result.stdout  # an untouched torch stub
    with Store.open() as store:
        assert store.exercise_progress("torch") == {} and store.exercise_progress("numpy") == {}


def test_interview_core_picks_only_exercises_with_a_torch_form(work):
    import random

    from mhaquiz.practice.interview import pick_exercise

    with Store.open() as store:
        picked = {pick_exercise(store, None, random.Random(seed), "torch").id for seed in range(60)}
    assert "repair_article_code" not in picked and all("torch" in get_exercise(id).tracks for id in picked)
    assert len(picked) > 3


# --- progress per exercise and track -------------------------------------------------------------------


def grades_by_track() -> dict:
    with Store.open() as store:
        rows = store.connection.execute("SELECT exercise_id, track, COUNT(*), MAX(passed) FROM grades "
                                        "GROUP BY exercise_id, track").fetchall()
    return {(exercise_id, track): (count, bool(passed)) for exercise_id, track, count, passed in rows}


def test_a_torch_grade_and_a_numpy_grade_are_two_progress_entries(work):
    pytest.importorskip("torch")
    torch_file, numpy_file = work / "torch_mha.py", work / "numpy_mha.py"
    torch_file.write_text(MHA.solution_source_for("torch"), encoding="utf-8")
    numpy_file.write_text(MHA.solution_source, encoding="utf-8")
    graded = invoke("grade", torch_file, "--json")
    assert graded.exit_code == 0, graded.output
    assert json.loads(graded.stdout)["track"] == "torch"
    assert grades_by_track() == {("mha_forward", "torch"): (1, True)}
    with Store.open() as store:  # scheduled in PyTorch only
        assert set(store.exercise_cards("torch")) == {"mha_forward"} and store.exercise_cards("numpy") == {}
    rows = {row["id"]: row for row in json.loads(invoke("list", "--json").stdout)}
    assert rows["mha_forward"]["status"] == "not started" and rows["mha_forward"]["track"] == "numpy"
    assert rows["mha_forward"]["tracks"]["torch"]["status"] == "passed"
    assert rows["mha_forward"]["tracks"]["torch"]["due"] is not None and rows["mha_forward"]["tracks"]["numpy"]["due"] is None

    touched = work / "attempt.py"  # a NumPy attempt that fails, then the NumPy reference
    touched.write_text(NUMPY_STUB + "\n# trying\n", encoding="utf-8")
    assert invoke("grade", touched, "-e", "mha_forward").exit_code == 1
    assert invoke("grade", numpy_file).exit_code == 0
    assert grades_by_track() == {("mha_forward", "torch"): (1, True), ("mha_forward", "numpy"): (2, True)}

    rows = {row["id"]: row for row in json.loads(invoke("list", "--json").stdout)}
    tracks = rows["mha_forward"]["tracks"]
    assert (tracks["numpy"]["attempts"], tracks["torch"]["attempts"]) == (2, 1)
    assert tracks["numpy"]["status"] == tracks["torch"]["status"] == "passed"
    assert "torch" not in rows["repair_article_code"]["tracks"]
    in_torch = {row["id"]: row for row in json.loads(invoke("list", "--json", "--torch").stdout)}
    assert in_torch["mha_forward"]["track"] == "torch" and in_torch["mha_forward"]["attempts"] == 1
    assert in_torch["repair_article_code"]["track"] == "numpy"  # no PyTorch form: its NumPy row
    plain = invoke("list", "--torch").stdout
    assert "Your framework: PyTorch" in plain and "NumPy: passed" in plain and "NumPy only" in plain

    stats = json.loads(invoke("stats", "--json").stdout)
    entries = [(e["id"], e["track"], e["attempts"], e["status"]) for e in stats["exercises"]]
    assert entries == [("mha_forward", "numpy", 2, "passed"), ("mha_forward", "torch", 1, "passed")]
    with_torch = sum("torch" in exercise.tracks for exercise in practice.curriculum())
    assert stats["exercise_totals_by_track"]["torch"] == {"passed": 1, "attempted": 0, "not_started": with_torch - 1,
                                                          "total": with_torch}
    assert stats["exercise_totals"] == stats["exercise_totals_by_track"]["numpy"]
    text = invoke("stats").stdout
    assert "Exercises in NumPy: 1 passed" in text and f"Exercises in PyTorch: 1 passed, 0 attempted, {with_torch - 1}" in text
    assert text.count(f"mha_forward: passed") == 2
    chinese = invoke("stats", "--lang", "zh").stdout
    assert "编程练习（PyTorch）：已通过 1" in chinese


def test_an_untouched_torch_stub_graded_is_not_an_attempt(work):
    pytest.importorskip("torch")
    assert invoke("start", "softmax", "--torch", "--dir", work).exit_code == 0
    result = invoke("grade", work / "softmax.py", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["verdict"] == "not_implemented"
    assert grades_by_track() == {}
    stub = get_exercise("softmax").stub_path_for("torch").read_text(encoding="utf-8")
    (work / "softmax.py").write_text(stub + "\n# started\n", encoding="utf-8")
    assert invoke("grade", work / "softmax.py").exit_code == 1
    assert grades_by_track() == {("softmax", "torch"): (1, False)}
    # the suggestion after a failure stays in the file's track
    assert "mhaquiz hint softmax --torch" in invoke("grade", work / "softmax.py").stdout


def test_watch_records_a_torch_file_in_the_torch_track(work):
    pytest.importorskip("torch")
    mine = work / "mha_forward.py"
    mine.write_text(MHA.solution_source_for("torch"), encoding="utf-8")
    result = invoke("watch", mine, "--stop-after", "0")
    assert result.exit_code == 0, result.output
    assert grades_by_track() == {("mha_forward", "torch"): (1, True)}


def test_interview_core_in_torch_grades_and_records_in_the_torch_track(work):
    pytest.importorskip("torch")
    import io

    from rich.console import Console

    from mhaquiz.practice.interview import TimedTerminal, run_interview

    term = TimedTerminal(Console(file=io.StringIO(), width=100), "en", interactive=False)
    target = work / "interview_mha_forward.py"

    def learner_solves_it() -> str:
        assert target.read_text(encoding="utf-8") == TORCH_STUB
        target.write_text(MHA.solution_source_for("torch"), encoding="utf-8")
        return "done\n"

    with Store.open() as store:
        result = run_interview(store, term, [], minutes=1, question_count=0, directory=work,
                               exercise_id="mha_forward", read_line=learner_solves_it, grade_timeout=30, track="torch")
    assert result.passed and (result.cases_passed, result.cases_total) == (MHA_CASES, MHA_CASES)
    assert result.to_dict()["exercise"]["track"] == "torch"
    assert grades_by_track() == {("mha_forward", "torch"): (1, True)}


def test_the_practice_schedule_is_per_exercise_and_track(work):
    """A pass in NumPy, due later, does not make the PyTorch form due, and the other way round."""
    from datetime import timedelta

    from mhaquiz import clock
    from mhaquiz.quiz.schedule import Rating, review_exercise

    now = clock.now()
    card = review_exercise(None, "softmax", Rating.Good, now - timedelta(days=30))  # long due
    with Store.open() as store:
        store.record_grade("softmax", True, {"score": 1.0}, graded_at=now - timedelta(days=30), card=card, track="numpy")
        rows = {row.id: row for row in practice.statuses(store, now, "torch")}
        numpy_rows = {row.id: row for row in practice.statuses(store, now, "numpy")}
    assert numpy_rows["softmax"].is_due and numpy_rows["softmax"].status == practice.PASSED
    assert rows["softmax"].track == "torch" and not rows["softmax"].is_due and rows["softmax"].status == practice.NOT_STARTED
    # start in PyTorch keeps the file (nothing due there); in NumPy it renews it
    mine = work / "softmax.py"
    mine.write_text("# mine\n", encoding="utf-8")
    with Store.open() as store:
        assert practice.start("softmax", work, store=store, track="torch").action == "kept"
        renewed = practice.start("softmax", work, store=store, track="numpy")
    assert renewed.action == "renewed" and renewed.kept_as.read_text(encoding="utf-8") == "# mine\n"


# --- the store's migration ----------------------------------------------------------------------------


def test_migration_7_keeps_earlier_progress_as_numpy(isolated_home):
    """A store written before tracks existed (migrations 1-6) keeps its grades, schedule and hints, as NumPy."""
    isolated_home.mkdir(parents=True)
    connection = sqlite3.connect(isolated_home / "progress.sqlite3", isolation_level=None)
    connection.execute("CREATE TABLE migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    number = next(index for index, (name, _) in enumerate(MIGRATIONS, start=1) if name == "007_tracks")
    for index, (name, statements) in enumerate(MIGRATIONS[:number - 1], start=1):
        for statement in statements:
            connection.execute(statement)
        connection.execute("INSERT INTO migrations VALUES (?, ?, '2026-01-01T00:00:00+00:00')", (index, name))
    connection.execute("INSERT INTO grades (exercise_id, passed, summary, graded_at) VALUES "
                       "('softmax', 1, '{\"score\": 1.0}', '2026-01-02T00:00:00+00:00')")
    connection.execute("INSERT INTO hints_shown VALUES ('softmax', 2)")
    connection.execute("INSERT INTO exercise_cards VALUES ('softmax', 2, NULL, 3.0, 5.0, '2026-01-05T00:00:00+00:00', "
                       "'2026-01-02T00:00:00+00:00', 1, 0)")
    connection.execute("INSERT INTO mistakes (exercise_id, mistake_id, title, graded_at) VALUES "
                       "('softmax', 'no_max_subtraction', '{\"en\": \"x\", \"zh\": \"x\"}', '2026-01-02T00:00:00+00:00')")
    connection.close()
    with Store.open() as store:
        assert store.exercise_progress("numpy")["softmax"].passed and store.exercise_progress("torch") == {}
        assert store.hints_shown("softmax", "numpy") == 2 and store.hints_shown("softmax", "torch") == 0
        assert store.exercise_cards("numpy")["softmax"].stability == 3.0 and store.exercise_cards("torch") == {}
        assert store.connection.execute("SELECT track FROM mistakes").fetchall() == [("numpy",)]
        store.set_hints_shown("softmax", 1, "torch")  # the same exercise, another track: its own row
        assert (store.hints_shown("softmax", "numpy"), store.hints_shown("softmax", "torch")) == (2, 1)


# --- doctor -------------------------------------------------------------------------------------------


def test_doctor_reports_torch_without_importing_it():
    code = ("import sys, json; from mhaquiz.doctor import torch_facts; facts = torch_facts(); "
            "print(json.dumps([facts, 'torch' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    facts, imported = json.loads(done.stdout)
    assert imported is False
    try:
        import importlib.metadata

        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        version = None
    assert facts == {"torch": version, "torch_importable": version is not None}


def test_doctor_says_whether_the_torch_track_can_be_graded(monkeypatch):
    import importlib.util

    from mhaquiz import doctor

    report = json.loads(invoke("doctor", "--json").stdout)
    assert set(report) >= {"torch", "torch_importable"}
    text = invoke("doctor").stdout
    if report["torch_importable"]:
        assert f"PyTorch {report['torch']}: the PyTorch track can be graded here." in text
        assert "PyTorch track: torch is imported once" in text
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "torch" else real(name, *rest))
    assert doctor.torch_facts() == {"torch": None, "torch_importable": False}
    missing = invoke("doctor", "--lang", "zh").stdout
    assert "没有安装 PyTorch：NumPy 版的练习照常可用" in missing and 'pip install "mhaquiz[torch]"' in missing


@pytest.mark.parametrize("command", ["config"])
def test_config_has_help_with_an_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "Example: mhaquiz config framework torch" in result.stdout
