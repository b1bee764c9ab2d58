"""The smaller commands and terminal behaviours: export anki, doctor, confirmations in Chinese, narrow
terminals, help in the locale's language, and an interview interrupted by Ctrl-C."""

import io
import json
import os
import sqlite3
import subprocess
import sys
import zipfile

import pytest
from rich.console import Console
from typer.testing import CliRunner

from mhaquiz import cli
from mhaquiz.cli import app
from mhaquiz.grader import confine, engine
from mhaquiz.quiz.bank import load_bank
from tests.helpers import reference_source

runner = CliRunner()
ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "en_US.UTF-8"}
CHINESE = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "zh_CN.UTF-8"}


def invoke(*args, env=ENGLISH, input=None):
    return runner.invoke(app, [str(arg) for arg in args], env=env, input=input)


def test_export_anki_writes_every_question_once_and_says_so(tmp_path):
    result = invoke("export", "anki", tmp_path / "deck", "--lang", "zh")
    assert result.exit_code == 0, result.output
    deck = tmp_path / "deck.apkg"
    total = len(load_bank().questions)
    assert result.stdout.startswith("已写入 ") and f"deck.apkg：{total} 条笔记（简答 " in result.stdout
    with zipfile.ZipFile(deck) as package:
        name = next(n for n in package.namelist() if n.startswith("collection.anki2"))
        (tmp_path / "col").write_bytes(package.read(name))
    notes = sqlite3.connect(tmp_path / "col").execute("SELECT guid, flds FROM notes").fetchall()
    assert len(notes) == total == len({guid for guid, _ in notes})


def test_export_anki_refuses_an_unknown_language_and_an_unwritable_place(tmp_path):
    bad = invoke("export", "anki", tmp_path / "deck.apkg", "--lang", "fr")
    assert bad.exit_code == 2 and "unknown language 'fr'; valid: zh, en, both" in bad.stderr
    folder = tmp_path / "deck.apkg"
    folder.mkdir()
    unwritable = invoke("export", "anki", folder)
    assert unwritable.exit_code == 2 and unwritable.stderr.startswith("Error: cannot write the Anki deck to ")


def test_doctor_says_which_sandbox_is_used(monkeypatch):
    asked = invoke("doctor", "--json", "--sandbox", "process")
    assert asked.exit_code == 0
    facts = json.loads(asked.stdout)
    assert facts["engine"] == "process" and "--sandbox process" in facts["reason"]
    assert facts["python"] == sys.version.split()[0]
    from_env = invoke("doctor", "--json", env={**ENGLISH, "MHAQUIZ_SANDBOX": "process"})
    assert json.loads(from_env.stdout)["engine"] == "process"
    unknown = invoke("doctor", "--sandbox", "strong")
    assert unknown.exit_code == 2 and unknown.stderr == "Error: unknown sandbox 'strong'; valid: auto, bwrap, process\n"
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    refused = invoke("doctor", "--sandbox", "bwrap")
    assert refused.exit_code == 2 and "bubblewrap) is not installed" in refused.stderr
    monkeypatch.setattr(confine, "landlock_abi", lambda: None)  # the hook's limits are said where no kernel layer holds
    fallback = invoke("doctor", "--lang", "zh")
    assert "沙箱：仅普通子进程" in fallback.stdout and "sudo apt-get install bubblewrap" in fallback.stdout
    assert "只有真正的隔离才能挡住的" in fallback.stdout


@pytest.mark.parametrize("answer, shown", [("是\n", True), ("否\n", False), ("y\n", True), ("\n", False),
                                           ("也许\n是\n", True)])
def test_confirmations_accept_chinese_answers(monkeypatch, answer, shown):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = invoke("solution", "mha_forward", "--lang", "zh", input=answer)
    assert (result.exit_code == 0) is shown
    assert ("def mha_forward" in result.stdout) is shown
    if answer.startswith("也许"):
        assert "请回答 是（y）或 否（n）。" in result.stdout


def test_a_narrow_terminal_drops_columns_before_it_cuts_an_exercise_id():
    from mhaquiz.practice.loop import statuses
    from mhaquiz.practice.view import render_list
    from mhaquiz.store import Store

    with Store.open() as store:
        rows = statuses(store)
    for width in (40, 60, 100):
        buffer = io.StringIO()
        render_list(Console(file=buffer, force_terminal=True, width=width, color_system=None), rows, "zh")
        text = buffer.getvalue()
        for row in rows:
            assert row.id in text, (width, row.id)
        assert max(len(line) for line in text.splitlines()) <= width or width == 40


def test_the_solution_wraps_long_lines_instead_of_cropping_them():
    from mhaquiz.practice.view import render_solution

    buffer = io.StringIO()
    source = "x = " + " + ".join(str(n) for n in range(60)) + "  # the end\n"
    render_solution(Console(file=buffer, force_terminal=True, width=50, color_system=None), source, "header")
    assert "# the end" in buffer.getvalue()


def test_help_follows_the_locale():
    env = {**os.environ, **CHINESE, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "mhaquiz", "grade", "--help"], capture_output=True, text=True, env=env)
    assert "在沙箱里运行 FILE，逐个用例与参考实现比对" in result.stdout and "选项" in result.stdout
    english = subprocess.run([sys.executable, "-m", "mhaquiz", "grade", "--help"], capture_output=True, text=True,
                             env={**os.environ, **ENGLISH, "COLUMNS": "200"})
    assert "Run FILE in a sandbox and check it against the reference" in english.stdout


def test_every_command_has_help_with_an_example():
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        result = invoke(name, "--help")
        assert result.exit_code == 0 and "Example: mhaquiz" in result.stdout, name


def test_an_interview_interrupted_by_ctrl_c_still_shows_its_summary(tmp_path, monkeypatch):
    from mhaquiz.practice.interview import TimedTerminal, run_interview
    from mhaquiz.store import Store

    buffer = io.StringIO()
    terminal = TimedTerminal(Console(file=buffer, width=100), "zh", interactive=False)

    def interrupted():
        raise KeyboardInterrupt

    with Store.open() as store, pytest.raises(KeyboardInterrupt):
        run_interview(store, terminal, [], minutes=5, question_count=0, directory=tmp_path,
                      exercise_id="softmax", read_line=interrupted)
    text = buffer.getvalue()
    assert "面试小结" in text and "编程题 softmax：没有做到" in text and "得分：0/100" in text


def test_an_interview_grades_a_written_solution_and_records_it(tmp_path):
    from mhaquiz.practice.interview import TimedTerminal, run_interview
    from mhaquiz.store import Store

    terminal = TimedTerminal(Console(file=io.StringIO(), width=100), "en", interactive=False)
    target = tmp_path / "interview_softmax.py"

    def learner_writes_it():
        target.write_text(reference_source("softmax"), encoding="utf-8")
        return "done\n"

    with Store.open() as store:
        result = run_interview(store, terminal, [], minutes=1, question_count=0, directory=tmp_path,
                               exercise_id="softmax", read_line=learner_writes_it)
        progress = store.exercise_progress()["softmax"]
    assert result.passed and result.score == 100
    assert progress.passed and progress.best["context"] == "interview"
