"""The question bank: loading, listing, and every kind of bad bank reported with file and line."""

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.errors import ExitCode, MhaquizError
from mhaquiz.quiz.bank import load_bank

BASIC = Path(__file__).parent / "banks" / "basic"
runner = CliRunner()

GOOD_MCQ = """\
  - id: {id}
    difficulty: easy
    type: mcq
    prompt: {{zh: 选哪个？, en: Which one?}}
    choices:
      a: {{zh: 甲, en: first}}
      b: {{zh: 乙, en: second}}
    answer: [a]
    explanation: {{zh: 因为甲。, en: Because of the first.}}
    source: test
"""


def write_bank(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return folder


def bank_problems(path: Path) -> list[str]:
    """The problem lines of the error a bad bank raises (its first line is the summary)."""
    with pytest.raises(MhaquizError) as caught:
        load_bank(path)
    assert caught.value.code == ExitCode.USAGE
    summary, *problems = caught.value.message.splitlines()
    assert "problem" in summary
    return problems


def test_basic_bank_loads_every_type():
    bank = load_bank(BASIC)
    assert [q.id for q in bank.questions] == ["att-scale", "att-softmax-axis", "att-properties", "param-mha", "param-dhead"]
    assert bank.topics == ["attention", "parameters"]
    by_id = bank.by_id()
    assert by_id["att-properties"].correct_choices == {"a", "b"}
    assert by_id["param-mha"].numeric.params == {"d": (512, 768, 1024)}
    assert by_id["att-softmax-axis"].key_points[0].en == "along the key axis"
    assert by_id["att-scale"].location.endswith("attention.yaml:3")


def test_builtin_bank_is_valid_and_bilingual():
    bank = load_bank()
    assert len(bank.questions) >= 60
    assert len(bank.topics) >= 6
    assert all(q.prompt.zh and q.prompt.en for q in bank.questions)


def test_single_file_bank(tmp_path):
    bank = load_bank(BASIC / "parameters.yaml")
    assert {q.topic for q in bank.questions} == {"parameters"}


def test_questions_json_lists_required_fields():
    result = runner.invoke(app, ["questions", "--bank", str(BASIC), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert len(listed) == 5
    for item in listed:
        assert {"id", "topic", "difficulty", "type", "prompt"} <= item.keys()
        assert set(item["prompt"]) == {"zh", "en"}


def test_questions_topic_filter_and_unknown_topic():
    result = runner.invoke(app, ["questions", "--bank", str(BASIC), "--topic", "parameters", "--json"])
    assert [q["id"] for q in json.loads(result.stdout)] == ["param-mha", "param-dhead"]
    result = runner.invoke(app, ["questions", "--bank", str(BASIC), "--topic", "nope"])
    assert result.exit_code == 2
    assert "unknown topic 'nope'; valid topics: attention, parameters" in result.stderr


def test_questions_table_names_each_question():
    result = runner.invoke(app, ["questions", "--bank", str(BASIC)], env={"LANG": "en_US.UTF-8", "LC_ALL": ""})
    assert result.exit_code == 0
    for qid in ("att-scale", "param-dhead"):
        assert qid in result.stdout


def test_no_such_bank_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["questions", "--bank", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "no such question bank" in result.stderr


def test_folder_without_yaml_is_a_usage_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(MhaquizError, match="no .yaml question files"):
        load_bank(tmp_path)


# --- bad banks: one case per kind of problem, each naming the file and the line --------------

BAD_BANKS = {
    "yaml-syntax": (
        "topic: t\nquestions:\n  - id: x\n    prompt: {zh: a, en: b\n",
        "YAML syntax error", 5,
    ),
    "missing-prompt": (
        "topic: t\nquestions:\n" + GOOD_MCQ.format(id="x").replace("    prompt: {zh: 选哪个？, en: Which one?}\n", ""),
        "question 'x': missing prompt", 3,
    ),
    "unknown-language": (
        "topic: t\nquestions:\n" + GOOD_MCQ.format(id="x").replace("en: Which one?", "fr: Laquelle?"),
        "question 'x': prompt: unknown language 'fr' (zh and en)", 6,
    ),
    "missing-answer": (
        "topic: t\nquestions:\n" + GOOD_MCQ.format(id="x").replace("    answer: [a]\n", ""),
        "question 'x': missing answer", 3,
    ),
    "unknown-type": (
        "topic: t\nquestions:\n" + GOOD_MCQ.format(id="x").replace("type: mcq", "type: essay"),
        "question 'x': unknown type 'essay' (one of open, mcq, numeric)", 5,
    ),
    "mcq-answer-not-a-choice": (
        "topic: t\nquestions:\n" + GOOD_MCQ.format(id="x").replace("answer: [a]", "answer: [a, e]"),
        "question 'x': answer 'e' is not one of its choices (a, b)", 10,
    ),
    "unknown-formula": (
        """\
        topic: t
        questions:
          - id: n
            difficulty: easy
            type: numeric
            prompt: {zh: "d = {d}", en: "d = {d}"}
            answer: {formula: no_such_formula, params: {d: 4}, tolerance: 0}
            explanation: {zh: 解, en: because}
            source: test
        """,
        "question 'n': unknown formula 'no_such_formula'", 7,
    ),
    "unknown-placeholder": (
        """\
        topic: t
        questions:
          - id: n
            difficulty: easy
            type: numeric
            prompt: {zh: "d = {dd}", en: "d = {d}"}
            answer: {formula: mha_param_count, params: {d: [4, 8]}, tolerance: 0}
            explanation: {zh: 解, en: because}
            source: test
        """,
        "placeholder {dd} has no param of that name", 7,
    ),
    "open-without-key-points": (
        """\
        topic: t
        questions:
          - id: o
            difficulty: hard
            type: open
            prompt: {zh: 为什么？, en: Why?}
            answer: {zh: 因为。, en: Because.}
            explanation: {zh: 解, en: because}
            source: test
        """,
        "question 'o': missing key_points", 3,
    ),
    "id-with-capitals-and-spaces": (
        "topic: t\nquestions:\n" + GOOD_MCQ.format(id="Mask Causal"),
        "question #1: id must be lowercase letters and digits, in words joined by single hyphens", 3,
    ),
    "id-with-a-trailing-hyphen": (
        "topic: t\nquestions:\n" + GOOD_MCQ.format(id="mask-"),
        "question #1: id must be lowercase letters and digits, in words joined by single hyphens", 3,
    ),
    "empty-file": ("# nothing here yet\n", "empty file", None),
    "no-questions": ("topic: t\nquestions: []\n", "`questions:` must be a non-empty list", 2),
    "not-utf8": ("topic: t\nquestions:\n  - id: caf\xe9\n".encode("latin-1"), "not UTF-8 (byte 0xe9", 3),
}


@pytest.mark.parametrize("case", sorted(BAD_BANKS))
def test_bad_bank_names_file_and_line(tmp_path, case):
    content, problem, line = BAD_BANKS[case]
    folder = write_bank(tmp_path / "bank", {"topic.yaml": content})
    problems = bank_problems(folder)
    where = "topic.yaml" + (f":{line}:" if line else ":")
    assert any(where in p and problem in p for p in problems), problems


@pytest.mark.parametrize("case", ["yaml-syntax", "mcq-answer-not-a-choice", "empty-file"])
def test_bad_bank_exits_2_through_the_cli(tmp_path, case):
    content, problem, _ = BAD_BANKS[case]
    folder = write_bank(tmp_path / "bank", {"topic.yaml": content})
    for command in (["questions"], ["ask"]):
        result = runner.invoke(app, [*command, "--bank", str(folder)], input="")
        assert result.exit_code == 2
        assert "topic.yaml" in result.stderr and problem in result.stderr
        assert "Traceback" not in result.output


def test_python_tag_is_reported_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    content = (
        "topic: t\nquestions:\n"
        + GOOD_MCQ.format(id="x").replace("source: test", f"source: !!python/object/apply:os.system ['touch {marker}']")
    )
    folder = write_bank(tmp_path / "bank", {"topic.yaml": content})
    problems = bank_problems(folder)
    assert any("topic.yaml:12:" in p and "!!python/object/apply:os.system is not allowed" in p for p in problems)
    assert not marker.exists()


def test_duplicate_ids_across_files_name_both_places(tmp_path):
    folder = write_bank(
        tmp_path / "bank",
        {"a.yaml": "topic: a\nquestions:\n" + GOOD_MCQ.format(id="same"), "b.yaml": "topic: b\nquestions:\n" + GOOD_MCQ.format(id="same")},
    )
    problems = bank_problems(folder)
    assert len(problems) == 1
    assert "b.yaml:3: duplicate id 'same' (first at" in problems[0] and "a.yaml:3" in problems[0]


def test_all_problems_of_a_file_are_listed_at_once(tmp_path):
    content = (
        "topic: t\nquestions:\n"
        + GOOD_MCQ.format(id="one").replace("type: mcq", "type: essay")
        + GOOD_MCQ.format(id="two").replace("answer: [a]", "answer: [z]")
        + GOOD_MCQ.format(id="three").replace("difficulty: easy", "difficulty: brutal")
    )
    folder = write_bank(tmp_path / "bank", {"topic.yaml": content, "other.yaml": "topic: u\nquestions: 3\n"})
    with pytest.raises(MhaquizError) as caught:
        load_bank(folder)
    summary, *problems = caught.value.message.splitlines()
    assert "has 4 problem(s) in 2 file(s):" in summary
    assert [p.split(":")[1] for p in problems if "topic.yaml" in p] == ["5", "20", "24"]


def test_bank_problem_mentions_drawn_params_that_break_the_formula(tmp_path):
    content = """\
    topic: t
    questions:
      - id: n
        difficulty: easy
        type: numeric
        prompt: {zh: "{d} {heads}", en: "{d} {heads}"}
        answer: {formula: d_head, params: {d: 512, heads: [8, 7]}, tolerance: 0}
        explanation: {zh: 解, en: because}
        source: test
    """
    folder = write_bank(tmp_path / "bank", {"topic.yaml": content})
    problems = bank_problems(folder)
    assert "topic.yaml:7:" in problems[0] and "'heads': 7" in problems[0]


# --- strict: unquoted text that YAML cuts at " #" ---------------------------------------------

CUT_AT_HASH = "topic: t\ntitle: {zh: 主题, en: Topic}\nquestions:\n" + GOOD_MCQ.format(id="x").replace(
    "    explanation: {zh: 因为甲。, en: Because of the first.}\n",
    "    explanation:\n      zh: 见 PyTorch issue #51102（均值 2000）\n      en: \"See PyTorch issue #51102 (mean 2000)\"\n",
)


def test_unquoted_text_cut_at_hash_is_rejected_naming_file_and_line(tmp_path):
    folder = write_bank(tmp_path / "bank", {"topic.yaml": CUT_AT_HASH})
    with pytest.raises(MhaquizError) as caught:
        load_bank(folder, strict=True)
    summary, *problems = caught.value.message.splitlines()
    assert "1 problem(s) in 1 file(s)" in summary
    assert [problem.rsplit("bank/", 1)[-1] for problem in problems] == [
        "topic.yaml:13: unquoted text '见 PyTorch issue' is cut at ' #': YAML reads the rest of the line as a comment; quote the text"
    ]


def test_the_same_text_quoted_loads_whole(tmp_path):
    quoted = CUT_AT_HASH.replace("zh: 见 PyTorch issue #51102（均值 2000）", 'zh: "见 PyTorch issue #51102（均值 2000）"')
    folder = write_bank(tmp_path / "bank", {"topic.yaml": quoted})
    question = load_bank(folder, strict=True).by_id()["x"]
    assert question.explanation.zh == "见 PyTorch issue #51102（均值 2000）"
    assert question.explanation.en == "See PyTorch issue #51102 (mean 2000)"


def test_a_cut_inside_a_folded_plain_scalar_is_found_too(tmp_path):
    content = CUT_AT_HASH.replace(
        "      zh: 见 PyTorch issue #51102（均值 2000）\n", "      zh: 第一行没有问题，\n        第二行 #51102 被截断\n"
    )
    folder = write_bank(tmp_path / "bank", {"topic.yaml": content})
    with pytest.raises(MhaquizError) as caught:
        load_bank(folder, strict=True)
    assert "topic.yaml:14: unquoted text '第一行没有问题， 第二行' is cut at ' #'" in caught.value.message


def test_block_scalars_keep_their_hash_and_own_banks_are_not_held_to_it(tmp_path):
    folded = CUT_AT_HASH.replace("      zh: 见 PyTorch issue #51102（均值 2000）\n", "      zh: >-\n        见 PyTorch issue #51102（均值 2000）\n")
    folder = write_bank(tmp_path / "folded", {"topic.yaml": folded})
    assert load_bank(folder, strict=True).by_id()["x"].explanation.zh == "见 PyTorch issue #51102（均值 2000）"
    own = write_bank(tmp_path / "own", {"topic.yaml": CUT_AT_HASH})
    assert load_bank(own, strict=False).by_id()["x"].explanation.zh == "见 PyTorch issue"
