"""Quiz edges: MCQ answer "0" (no choice 0), a numeric answer exactly at its tolerance, half the key points."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.quiz.marking import number_matches, parse_choices, suggested_rating
from mhaquiz.store import Store

BASIC = Path(__file__).parent / "banks" / "basic"
ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "en_US.UTF-8"}


def ask(*args: str, input: str = ""):
    return CliRunner().invoke(app, ["ask", "--bank", str(BASIC), *args], input=input, env=ENGLISH)


def saved_answers() -> list:
    with Store.open() as store:
        return store.connection.execute("SELECT answer, correct FROM reviews ORDER BY id").fetchall()


@pytest.mark.parametrize("typed", ["0", "00", "01", "０"])
def test_mcq_answer_0_is_no_choice_and_is_asked_again(typed):
    """Choices are numbered from 1: "0" is not the last choice (Python's index -1) nor any other."""
    result = ask("--topic", "attention", "--difficulty", "easy", input=f"{typed}\n2\n")
    assert result.exit_code == 0, result.output
    assert "Please type choice letters (a, b, c) or numbers (1-3)" in result.stdout
    assert "Correct" in result.stdout and "Wrong" not in result.stdout
    assert saved_answers() == [("2", 1)]  # one answer saved, the one that was read


def test_parse_choices_numbers_run_from_1_to_the_number_of_choices():
    valid = {"a": "x", "b": "y", "c": "z"}
    assert parse_choices("0", valid) is None
    assert parse_choices("3", valid) == {"c"} and parse_choices("4", valid) is None
    assert parse_choices("13", valid) == {"a", "c"} and parse_choices("10", valid) is None


def test_a_number_exactly_at_its_tolerance_is_right_and_just_past_it_is_wrong():
    assert number_matches(101.0, 100.0, 0.01)
    assert not number_matches(101.0000001, 100.0, 0.01)
    assert number_matches(8256.0, 8256.0, 0.0)  # tolerance 0: exactly equal is right
    assert not number_matches(8257.0, 8256.0, 0.0)


def test_exactly_half_the_key_points_suggests_hard():
    assert suggested_rating([True, False]) == 2
    assert suggested_rating([True, True, False, False]) == 2
    assert suggested_rating([True, False, False, False]) == 1


# --- a learner's own bank: the topic's form, a formula that overflows --------------------------------------------------

def bank_problems(tmp_path, content: str) -> list:
    from mhaquiz.errors import MhaquizError
    from mhaquiz.quiz.bank import load_bank

    folder = tmp_path / "bank"
    folder.mkdir()
    (folder / "topic.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(MhaquizError) as caught:
        load_bank(folder)
    return caught.value.message.splitlines()[1:]


NUMERIC = """\
topic: {topic}
questions:
  - id: n
    difficulty: easy
    type: numeric
    prompt: {{zh: "base {{base}}", en: "base {{base}}"}}
    answer: {{formula: ntk_aware_base, params: {{base: {base}, scale: 10, d: 4}}, tolerance: 0}}
    explanation: {{zh: 解, en: because}}
    source: test
"""


@pytest.mark.parametrize("topic", ["Attention", "my topic", "-dash-first", "注意力"])
def test_a_topic_that_is_not_lowercase_letters_digits_dashes_or_underscores_is_refused(tmp_path, topic):
    problems = bank_problems(tmp_path, NUMERIC.format(topic=f'"{topic}"', base=10000))
    assert any("topic" in problem for problem in problems), problems


def test_a_formula_that_overflows_to_inf_for_its_params_is_refused_at_load(tmp_path):
    problems = bank_problems(tmp_path, NUMERIC.format(topic="rope_own", base="1.0e+308"))
    assert any("not a finite number" in problem and "inf" in problem for problem in problems), problems


def test_the_same_question_with_a_finite_answer_loads(tmp_path):
    from mhaquiz.quiz.bank import load_bank

    folder = tmp_path / "bank"
    folder.mkdir()
    (folder / "topic.yaml").write_text(NUMERIC.format(topic="rope_own", base=10000), encoding="utf-8")
    assert [q.id for q in load_bank(folder).questions] == ["n"]
