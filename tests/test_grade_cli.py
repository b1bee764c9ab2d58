"""`mhaquiz grade` through the CLI: exit codes, messages, JSON, detection, recording."""

import json

import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.store import Store
from tests.helpers import reference_source, with_edits, write

runner = CliRunner()


def test_reference_passes_with_exit_0_and_a_row_per_case(tmp_path):
    path = write(tmp_path, "mha.py", reference_source("mha_forward"))
    result = runner.invoke(app, ["grade", str(path)])
    assert result.exit_code == 0, result.output
    for case in ("cross-attention", "causal mask", "padding mask", "single head", "one query", "large logits"):
        assert case in result.output
    assert "PASSED mha_forward" in result.output


def test_wrong_answer_exits_1_naming_case_output_and_mistake(tmp_path):
    source = with_edits(reference_source("mha_forward"), ("(Q / np.sqrt(dh))", "Q"))
    result = runner.invoke(app, ["grade", str(write(tmp_path, "mha.py", source))])
    assert result.exit_code == 1
    assert "First failure: case 'cross-attention'" in result.output
    assert "worst element at index" in result.output
    assert "Looks like: scores not scaled by 1/sqrt(d_head)" in result.output
    assert "FAILED: wrong answer" in result.output


def test_json_is_one_document_with_passed_exercises_cases_and_diagnosis(tmp_path):
    source = with_edits(reference_source("mha_forward"), ("allowed = True if mask is None else mask", "allowed = True if mask is None else ~mask"))
    source = source.replace("    D = q.shape[-1]\n", "    print('noise on stdout')\n    D = q.shape[-1]\n", 1)
    result = runner.invoke(app, ["grade", str(write(tmp_path, "mha.py", source)), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)  # the whole of stdout parses: nothing else is printed there
    assert document["passed"] is False
    assert document["verdict"] == "wrong answer"
    exercise = document["exercises"][0]
    assert exercise["id"] == "mha_forward"
    assert {case["name"] for case in exercise["cases"] if not case["passed"]} >= {"causal mask", "padding mask"}
    assert exercise["diagnosis"][0]["mistake"] == "mask_inverted"
    assert "noise on stdout" in document["output"]["text"]
    assert exercise["tolerance"]["atol"] > 0 and exercise["tolerance"]["why"]


def test_file_defining_forward_and_backward_grades_both(tmp_path):
    backward = reference_source("mha_backward")
    forward = reference_source("mha_forward")
    source = backward + "\n\n" + forward[forward.index("def mha_forward"):]
    result = runner.invoke(app, ["grade", str(write(tmp_path, "both.py", source)), "--json"])
    assert result.exit_code == 0, result.output
    exercises = json.loads(result.stdout)["exercises"]
    assert [e["id"] for e in exercises] == ["mha_backward", "mha_forward"]
    assert "b_k gradient" in exercises[0]["tolerance"]["why"] and "b_k" not in exercises[1]["tolerance"]["why"]


def test_exercise_option_chooses(tmp_path):
    path = write(tmp_path, "mha.py", reference_source("mha_backward"))
    result = runner.invoke(app, ["grade", str(path), "--exercise", "mha_forward", "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["verdict"] == "missing function"
    assert document["exercises"][0]["missing_functions"] == ["mha_forward"]


@pytest.mark.parametrize("args, message", [
    (["grade", "does-not-exist.py"], "Error: no such file: does-not-exist.py"),
    (["grade", "{file}", "--exercise", "nope"], "Error: unknown exercise 'nope'; valid: "),
    (["grade", "{file}", "--exercise", "../solutions/mha_forward"], "Error: unknown exercise '../solutions/mha_forward'"),
    (["grade", "{file}", "--timeout", "0"], "Error: --timeout and --memory must be positive"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    path = write(tmp_path, "mha.py", reference_source("mha_forward"))
    result = runner.invoke(app, [arg.format(file=path) for arg in args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_non_utf8_file_is_a_usage_error(tmp_path):
    path = tmp_path / "latin1.py"
    path.write_bytes("# caf\xe9\n".encode("latin-1"))
    result = runner.invoke(app, ["grade", str(path)])
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr


def test_file_with_no_exercise_function_fails_listing_what_is_expected(tmp_path):
    result = runner.invoke(app, ["grade", str(write(tmp_path, "other.py", "def f():\n    pass\n"))])
    assert result.exit_code == 1
    assert "no exercise found" in result.output and "mha_forward" in result.output


def test_every_grade_is_recorded_in_the_progress_store(tmp_path):
    good = write(tmp_path, "good.py", reference_source("mha_forward"))
    bad = write(tmp_path, "bad.py", with_edits(reference_source("mha_forward"), ("(Q / np.sqrt(dh))", "Q")))
    assert runner.invoke(app, ["grade", str(bad)]).exit_code == 1
    assert runner.invoke(app, ["grade", str(good), "--json"]).exit_code == 0
    with Store.open() as store:
        progress = store.exercise_progress()["mha_forward"]
    assert progress.attempts == 2 and progress.passed
    assert progress.best["cases_passed"] == progress.best["cases_total"] == 7


def test_version_and_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("mhaquiz ")
    help_text = runner.invoke(app, ["grade", "--help"]).output
    assert "Example: mhaquiz grade" in help_text and "--timeout" in help_text


def test_relative_path_with_a_folder(tmp_path, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    write(folder, "mha.py", reference_source("mha_forward"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["grade", "work/mha.py"])
    assert result.exit_code == 0, result.output
    assert "work/mha.py" in result.output


def test_an_exercise_graded_only_when_named_is_named_by_the_file_name(tmp_path):
    fixed = reference_source("repair_article_code")
    by_name = runner.invoke(app, ["grade", str(write(tmp_path, "repair_article_code.py", fixed)), "--json"])
    other_name = runner.invoke(app, ["grade", str(write(tmp_path, "mine.py", fixed)), "--json"])
    assert [e["id"] for e in json.loads(by_name.stdout)["exercises"]] == ["repair_article_code"]
    assert [e["id"] for e in json.loads(other_name.stdout)["exercises"]] == ["mha_forward"]
