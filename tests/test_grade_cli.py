"""`mhaquiz grade` through the CLI: exit codes, messages in both languages, JSON, detection, recording.

Text assertions never depend on the terminal's width (piped output is not wrapped) nor on temporary paths.
"""

import json

import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.store import Store
from tests.helpers import reference_source, with_edits, write

runner = CliRunner()
ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "en_US.UTF-8"}
CHINESE = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "zh_CN.UTF-8"}
NO_SCALE = ("(Q / np.sqrt(dh))", "Q")


def invoke(*args, env=ENGLISH, **kwargs):
    return runner.invoke(app, [str(arg) for arg in args], env=env, **kwargs)


def test_reference_passes_with_exit_0_and_a_row_per_case(tmp_path):
    result = invoke("grade", write(tmp_path, "mha.py", reference_source("mha_forward")))
    assert result.exit_code == 0, result.output
    for case in ("cross-attention", "causal mask", "padding mask", "general mask", "single head", "one query",
                 "large logits"):
        assert f"\n{case} " in result.output
    assert "PASSED mha_forward (seed 0)" in result.output
    assert "Speed: " in result.output and "Next: mhaquiz start " in result.output


def test_wrong_answer_exits_1_naming_case_output_and_mistake(tmp_path):
    source = with_edits(reference_source("mha_forward"), NO_SCALE)
    result = invoke("grade", write(tmp_path, "mha.py", source))
    assert result.exit_code == 1
    assert "First failure: case 'cross-attention' (Tq != Tk != D, k and v different arrays from q), output 'out': " in result.output
    assert "worst element at [" in result.output and "(allowed ±" in result.output
    assert "Looks like: scores not scaled by 1/sqrt(d_head) (matches " in result.output
    # every case but the two whose softmax saturates to the same one-hot rows either way
    assert "FAILED: wrong answer - 7 of 10 cases wrong; first: mha_forward, case 'cross-attention'" in result.output
    assert "Stuck? mhaquiz hint mha_forward" in result.output


def test_the_same_report_in_chinese_with_the_locale_or_lang(tmp_path):
    path = write(tmp_path, "mha.py", with_edits(reference_source("mha_forward"), NO_SCALE))
    for result in (invoke("grade", path, env=CHINESE), invoke("grade", path, "--lang", "zh")):
        assert result.exit_code == 1
        out = result.output
        assert "第一个错误：用例“交叉注意力”" in out
        assert "看起来像：分数没有乘以 1/sqrt(d_head)" in out
        assert "未通过：答案错误。10 个用例中有 7 个错误" in out
        assert "卡住了？mhaquiz hint mha_forward" in out
        assert "容差：" not in out  # a mistake this large is not a near miss: no tolerance paragraph
        assert "First failure" not in out and "Looks like" not in out


def test_json_is_strict_and_language_neutral_with_both_texts(tmp_path):
    source = with_edits(reference_source("mha_forward"), ("allowed = True if mask is None else mask",
                                                          "allowed = True if mask is None else ~mask"))
    source = source.replace("    D = q.shape[-1]\n", "    print('noise on stdout')\n    D = q.shape[-1]\n", 1)
    result = invoke("grade", write(tmp_path, "mha.py", source), "--json", env=CHINESE)
    assert result.exit_code == 1
    document = json.loads(result.stdout)  # the whole of stdout parses: nothing else is printed there
    assert document["passed"] is False and document["verdict"] == "wrong_answer"
    assert document["verdict_text"] == {"zh": "答案错误", "en": "wrong answer"}
    assert document["detail"]["key"] == "detail.wrong_answer"
    assert document["detail"]["text"]["en"].startswith("6 of 10 cases wrong; first: mha_forward, case 'causal mask'")
    assert document["where"] == {"exercise": "mha_forward", "case": "causal mask"}
    exercise = document["exercises"][0]
    assert exercise["id"] == "mha_forward" and exercise["title"]["zh"] == "多头注意力：前向传播"
    assert {case["name"] for case in exercise["cases"] if not case["passed"]} == {"causal mask", "padding mask",
                                                                                  "general mask", "large logits",
                                                                                  "very negative scores",
                                                                                  "masked keys outscore"}
    assert exercise["diagnosis"][0]["mistake"] == "mask_inverted"
    assert exercise["diagnosis"][0]["title"]["en"] == "mask inverted: True should mean 'may attend'"
    assert "noise on stdout" in document["output"]["text"]
    assert exercise["tolerance"]["rtol"] == 1e-10 and exercise["tolerance"]["why"]["zh"]


def test_json_never_writes_nan_or_infinity(tmp_path):
    source = with_edits(reference_source("mha_forward"), ("np.max(x, axis=axis, keepdims=True, where=where, initial=-np.inf)", "0.0"))
    result = invoke("grade", write(tmp_path, "mha.py", source), "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    large = next(case for case in document["exercises"][0]["cases"] if case["name"] == "large logits")
    assert large["outputs"][0]["problem"] == "not_finite" and large["outputs"][0]["worst"]["got"] == "nan"


def test_a_usage_error_with_json_is_one_json_object_too(tmp_path):
    result = invoke("grade", tmp_path / "missing.py", "--json")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2 and document["error"]["key"] == "error.no_such_file"
    assert document["error"]["text"]["zh"].startswith("文件不存在：")


def test_file_defining_forward_and_backward_grades_both(tmp_path):
    backward = reference_source("mha_backward")
    forward = reference_source("mha_forward")
    source = backward + "\n\n" + forward[forward.index("def mha_forward"):]
    result = invoke("grade", write(tmp_path, "both.py", source), "--json")
    assert result.exit_code == 0, result.output
    exercises = json.loads(result.stdout)["exercises"]
    assert [e["id"] for e in exercises] == ["mha_backward", "mha_forward"]
    assert "b_k gradient" in exercises[0]["tolerance"]["why"]["en"] and "b_k" not in exercises[1]["tolerance"]["why"]["en"]


def test_a_wrong_forward_beside_a_right_backward_fails_and_is_recorded_each_as_it_is(tmp_path):
    backward = reference_source("mha_backward")
    forward = with_edits(reference_source("mha_forward"), ('return heads @ params["W_o"] + params["b_o"]  # (B, Tq, D)',
                                                           'return heads @ params["W_o"]  # (B, Tq, D)'))
    source = backward + "\n\n" + forward[forward.index("def mha_forward"):]
    result = invoke("grade", write(tmp_path, "both.py", source), "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["verdict"] == "wrong_answer" and document["where"]["exercise"] == "mha_forward"
    with Store.open() as store:
        progress = store.exercise_progress()
    assert progress["mha_backward"].passed and not progress["mha_forward"].passed


def test_exercise_option_chooses(tmp_path):
    path = write(tmp_path, "mha.py", reference_source("mha_backward"))
    result = invoke("grade", path, "--exercise", "mha_forward", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["verdict"] == "missing_function"
    assert document["exercises"][0]["missing_functions"] == ["mha_forward"]


@pytest.mark.parametrize("args, message", [
    (["grade", "does-not-exist.py"], "Error: no such file: does-not-exist.py"),
    (["grade", "{file}", "--exercise", "nope"], "Error: unknown exercise 'nope'; valid: "),
    (["grade", "{file}", "--exercise", "../solutions/mha_forward"], "Error: unknown exercise '../solutions/mha_forward'"),
    (["grade", "{file}", "--timeout", "0"], "Error: --timeout and --memory must be positive"),
    (["grade", "{file}", "--sandbox", "docker"], "Error: unknown sandbox 'docker'; valid: auto, bwrap, process"),
    (["grade", "{file}", "--lang", "fr"], "Error: unknown language 'fr'; valid: zh, en"),
    (["grade", "{dir}"], "Error: {dir} is a directory: give the .py file to grade"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    path = write(tmp_path, "mha.py", reference_source("mha_forward"))
    result = invoke(*[arg.format(file=path, dir=tmp_path) for arg in args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message.format(dir=tmp_path))
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_usage_errors_speak_chinese_too(tmp_path):
    result = invoke("grade", "does-not-exist.py", env=CHINESE)
    assert result.exit_code == 2 and result.stderr == "错误：文件不存在：does-not-exist.py\n"


def test_a_file_declaring_its_encoding_is_read_as_python_reads_it(tmp_path):
    path = tmp_path / "latin1.py"
    source = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + reference_source("mha_forward")
    path.write_bytes(source.encode("latin-1", errors="replace"))  # the reference's Chinese comments become '?'
    result = invoke("grade", path)
    assert result.exit_code == 0, result.output


def test_a_file_that_is_not_text_in_its_encoding_is_a_syntax_error(tmp_path):
    path = tmp_path / "binary.py"
    path.write_bytes(b"def mha_forward(q):\n    return '\xff\xfe'\n")
    result = invoke("grade", path, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["verdict"] == "syntax_error"


def test_file_with_no_exercise_function_fails_listing_what_is_expected(tmp_path):
    result = invoke("grade", write(tmp_path, "other.py", "def f():\n    pass\n"))
    assert result.exit_code == 1
    assert "FAILED: no exercise found - the file defines none of the exercises' functions (softmax: softmax;" in result.output


def test_every_grade_is_recorded_in_the_progress_store(tmp_path):
    good = write(tmp_path, "good.py", reference_source("mha_forward"))
    bad = write(tmp_path, "bad.py", with_edits(reference_source("mha_forward"), NO_SCALE))
    assert invoke("grade", bad).exit_code == 1
    assert invoke("grade", good, "--json").exit_code == 0
    with Store.open() as store:
        progress = store.exercise_progress()["mha_forward"]
    assert progress.attempts == 2 and progress.passed
    assert progress.best["cases_passed"] == progress.best["cases_total"] == 10


def test_a_locked_store_is_a_warning_and_the_verdict_stands(tmp_path, monkeypatch):
    import sqlite3

    from mhaquiz import cli

    with Store.open():
        pass
    monkeypatch.setattr(cli, "RECORD_TIMEOUT", 0.2)
    home = tmp_path / "mhaquiz-home" / "progress.sqlite3"
    locker = sqlite3.connect(home, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        result = invoke("grade", write(tmp_path, "good.py", reference_source("mha_forward")))
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert result.exit_code == 0
    assert "PASSED mha_forward" in result.stdout
    assert result.stderr.startswith("Warning: result not recorded: ")


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_store_that_is_not_a_file_is_a_warning_when_grading(tmp_path, kind):
    import os

    home = tmp_path / "mhaquiz-home"
    home.mkdir()
    (home / "progress.sqlite3").mkdir() if kind == "folder" else os.mkfifo(home / "progress.sqlite3")
    result = invoke("grade", write(tmp_path, "good.py", reference_source("mha_forward")))
    assert result.exit_code == 0
    assert "is not a regular file" in result.stderr and result.stderr.startswith("Warning: result not recorded: ")


def test_version_and_help():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("mhaquiz ")
    help_text = invoke("grade", "--help", env={**ENGLISH, "COLUMNS": "200"}).output  # rich lays help out at the width
    assert "Example: mhaquiz grade" in help_text and "--timeout" in help_text and "--sandbox" in help_text


def test_relative_path_with_a_folder(tmp_path, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    write(folder, "mha.py", reference_source("mha_forward"))
    monkeypatch.chdir(tmp_path)
    result = invoke("grade", "work/mha.py")
    assert result.exit_code == 0, result.output
    assert "work/mha.py · mha_forward" in result.output


def test_an_exercise_graded_only_when_named_is_named_by_its_file_name_or_former_name(tmp_path):
    fixed = reference_source("repair_article_code")
    for name in ("repair_article_code.py", "fix_the_seed.py"):
        result = invoke("grade", write(tmp_path, name, fixed), "--json")
        assert [e["id"] for e in json.loads(result.stdout)["exercises"]] == ["repair_article_code"]
    other_name = invoke("grade", write(tmp_path, "mine.py", fixed), "--json")
    assert [e["id"] for e in json.loads(other_name.stdout)["exercises"]] == ["mha_forward"]
    by_old_id = invoke("grade", write(tmp_path, "x.py", fixed), "-e", "fix_the_seed", "--json")
    assert [e["id"] for e in json.loads(by_old_id.stdout)["exercises"]] == ["repair_article_code"]


@pytest.mark.parametrize("columns", [None, "40", "200"])
def test_the_report_does_not_depend_on_the_terminal_width(tmp_path, columns):
    env = dict(ENGLISH, COLUMNS=columns) if columns else ENGLISH
    path = write(tmp_path, "a-rather-long-file-name-for-a-submission.py", with_edits(reference_source("mha_forward"), NO_SCALE))
    result = invoke("grade", path, env=env)
    assert "FAILED: wrong answer - 7 of 10 cases wrong; first: mha_forward, case 'cross-attention'\n" in result.output
    assert "Looks like: scores not scaled by 1/sqrt(d_head) (matches 7 of 7 failing outputs: out)\n" in result.output
