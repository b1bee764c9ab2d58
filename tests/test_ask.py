"""`mhaquiz ask`: each question type through the CLI with piped answers, scheduling with fixed times,
language, end of input and Ctrl-C; and the marking helpers it relies on."""

import io
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.errors import MhaquizError
from mhaquiz.i18n import locale_language
from mhaquiz.quiz.bank import Text, load_bank
from mhaquiz.quiz.marking import covered_key_points, parse_choices, parse_number
from mhaquiz.quiz.schedule import plan_session
from mhaquiz.quiz.session import Session
from mhaquiz.quiz.ui import Terminal, parse_rating
from mhaquiz.store import Store

BASIC = Path(__file__).parent / "banks" / "basic"
ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "en_US.UTF-8"}
runner = CliRunner()
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


def ask(*args: str, input: str = "", env: dict | None = None):
    return runner.invoke(app, ["ask", "--bank", str(BASIC), *args], input=input, env=env or ENGLISH)


def saved_reviews() -> list[tuple]:
    with Store.open() as store:
        return store.connection.execute("SELECT question_id, rating, correct, answer, cram FROM reviews ORDER BY id").fetchall()


# --- each type through the CLI --------------------------------------------------------------


def test_mcq_right_is_marked_and_saved():
    result = ask("--topic", "attention", "--difficulty", "easy", input="b\n")
    assert result.exit_code == 0, result.output
    assert "Question 1/1" in result.stdout and "b) sqrt(d_k)" in result.stdout
    assert "Correct" in result.stdout and "Comes back in 10m" in result.stdout
    assert "Session summary" in result.stdout and "Answered 1, right or recalled 1 (100%)" in result.stdout
    assert saved_reviews() == [("att-scale", 3, 1, "b", 0)]


@pytest.mark.parametrize("answer, correct", [("a,b", True), ("BA", True), ("b, a", True), ("a", False), ("a,b,c", False)])
def test_mcq_with_several_answers_needs_exactly_the_right_set(answer, correct):
    result = ask("--topic", "attention", "--difficulty", "hard", input=answer + "\n")
    assert ("Correct" if correct else "Wrong") in result.stdout
    assert saved_reviews()[0][1:3] == ((3, 1) if correct else (1, 0))


def test_mcq_letter_not_a_choice_is_asked_again():
    result = ask("--topic", "attention", "--difficulty", "easy", input="z\nb\n")
    assert "Please type choice letters (a, b, c)" in result.stdout
    assert "Correct" in result.stdout
    assert len(saved_reviews()) == 1


def test_numeric_with_drawn_params_is_reproducible_and_marked():
    first = ask("--topic", "parameters", "--difficulty", "medium", "--seed", "7", input="\n")
    d = int(re.search(r"d_model = (\d+)", first.stdout).group(1))
    assert "Wrong" in first.stdout and f"Answer: {4 * d * d + 4 * d:,} parameters" in first.stdout
    again = ask("--topic", "parameters", "--difficulty", "medium", "--seed", "7", "--cram", input=f"{4 * d * d + 4 * d:,}\n")
    assert f"d_model = {d}" in again.stdout
    assert "Correct" in again.stdout


def test_numeric_not_a_number_is_asked_again():
    result = ask("--topic", "parameters", "--difficulty", "easy", input="sixty-four\n64\n")
    assert "Not a number: sixty-four" in result.stdout
    assert "Correct" in result.stdout


def test_open_question_shows_reference_covered_points_and_rating_times():
    result = ask("--topic", "attention", "--difficulty", "medium", input="along the key axis so the weights sum to one\n\n3\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Reference answer: Along the keys" in out
    assert "  1 ✓ along the key axis\n  2 ✓ each query's weights sum to one\n" in out  # found: pre-ticked
    assert "Covered 2/2: suggested rating 3 Good" in out  # Enter kept the ticks
    assert "[1] Again (1m)  [2] Hard (6m)  [3] Good (10m)  [4] Easy (" in out
    assert saved_reviews() == [("att-softmax-axis", 3, 1, "along the key axis so the weights sum to one", 0)]


def test_open_question_rated_again_counts_as_missed():
    result = ask("--topic", "attention", "--difficulty", "medium", input="no idea\n\nmaybe\nagain\n")
    assert "Please type 1-4 or again/hard/good/easy" in result.stdout
    assert "Missed:\n  · Along which axis is the softmax taken, and why?\n" in result.stdout  # titles, not ids
    assert saved_reviews()[0][1:3] == (1, 0)


@pytest.mark.parametrize("rating, saved", [("hard", (2, 1)), ("4", (4, 1))])
def test_an_open_question_recalled_with_effort_still_counts_as_recalled(rating, saved):
    result = ask("--topic", "attention", "--difficulty", "medium", input=f"over the keys\n1\n{rating}\n")
    assert "Answered 1, right or recalled 1 (100%)" in result.stdout and "Missed:" not in result.stdout
    assert saved_reviews()[0][1:3] == saved


# --- ending a session --------------------------------------------------------------------------


def test_end_of_input_ends_cleanly_keeping_the_answers_given():
    result = ask("--topic", "attention", "--count", "3", input="b\n")
    assert result.exit_code == 0
    assert "Answered 1, right or recalled 1" in result.stdout
    assert len(saved_reviews()) == 1


def test_no_input_at_all_ends_cleanly():
    result = ask(input="")
    assert result.exit_code == 0
    assert "No answers this time." in result.stdout
    assert saved_reviews() == []


def test_ctrl_c_exits_130_keeping_every_answer(monkeypatch):
    replies = iter(["b", "along the keys", "", "3"])

    def read_line(self, label):
        try:
            return next(replies)
        except StopIteration:
            raise KeyboardInterrupt from None

    monkeypatch.setattr(Terminal, "read_line", read_line)
    result = ask("--topic", "attention")
    assert result.exit_code == 130
    assert "Interrupted." in result.stderr
    assert "Answered 2" in result.stdout
    assert len(saved_reviews()) == 2


def test_nothing_due_says_when_to_come_back():
    ask("--topic", "attention", "--difficulty", "easy", input="b\n")
    result = ask("--topic", "attention", "--difficulty", "easy", input="")
    assert result.exit_code == 0
    assert "Nothing is due" in result.stdout and "The next one is due in 10m" in result.stdout
    assert "--cram" in result.stdout


def test_ask_never_imports_numpy():
    probe = (
        "import sys; from typer.testing import CliRunner; from mhaquiz.cli import app; "
        f"result = CliRunner().invoke(app, ['ask', '--bank', {str(BASIC)!r}, '--lang', 'en'], input='b\\n'); "
        "assert result.exit_code == 0, result.output; print('numpy' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"


# --- usage errors and language -------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--topic", "nope"], "valid topics: attention, parameters"),
        (["--difficulty", "brutal"], "valid: easy, medium, hard"),
        (["--lang", "fr"], "valid: zh, en"),
    ],
)
def test_unknown_option_values_exit_2_listing_valid_ones(args, message):
    result = ask(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_chinese_locale_speaks_chinese():
    result = ask("--topic", "attention", "--difficulty", "easy", input="b\n", env={"LC_ALL": "", "LC_MESSAGES": "", "LANG": "zh_CN.UTF-8"})
    assert "第 1/1 题" in result.stdout and "缩放点积注意力中" in result.stdout
    assert "正确" in result.stdout and "本次小结" in result.stdout


def test_lang_option_overrides_the_locale():
    result = ask("--lang", "en", "--topic", "attention", "--difficulty", "easy", input="b\n", env={"LANG": "zh_CN.UTF-8"})
    assert "Question 1/1" in result.stdout and "第 1/1 题" not in result.stdout


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_TW"}, "zh"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "C"}, "zh"),
        ({"LC_ALL": "", "LANG": "zh_HK"}, "zh"),
        ({}, "en"),
    ],
)
def test_locale_language(environ, expected):
    assert locale_language(environ) == expected


# --- scheduling with fixed times, through the core API ---------------------------------------


class ScriptedTerminal(Terminal):
    """Answers each question from a script keyed by question id; records what was asked."""

    def __init__(self, answers: dict[str, list[str]]):
        super().__init__(Console(file=io.StringIO(), width=100), "en", interactive=False)
        self.answers = {qid: list(replies) for qid, replies in answers.items()}
        self.asked: list[str] = []

    def show_question(self, asked, index, total, reason):
        self.asked.append(asked.question.id)
        super().show_question(asked, index, total, reason)

    def read_line(self, label):
        replies = self.answers.get(self.asked[-1])
        if not replies:
            raise EOFError
        return replies.pop(0)


ATTENTION_ANSWERS = {"att-scale": ["b"], "att-properties": ["c"], "att-softmax-axis": ["softmax over keys", "", "3"]}


def run_session(store, when, answers, topic="attention", count=10, cram=False):
    questions = load_bank(BASIC).select(topic)
    terminal = ScriptedTerminal(answers)
    result = Session(store, terminal, cram=cram, seed=0, clock=lambda: when).run(questions, count)
    return terminal.asked, result


def test_new_questions_come_easy_first_with_topics_interleaved():
    bank = load_bank(BASIC)
    plan = plan_session(bank.questions, {}, T0, count=10)
    assert [p.question.id for p in plan] == ["att-scale", "param-dhead", "att-softmax-axis", "param-mha", "att-properties"]
    assert {p.reason for p in plan} == {"new"}


def test_missed_question_returns_first_the_next_day():
    with Store.open() as store:
        asked, _ = run_session(store, T0, ATTENTION_ANSWERS)
        assert asked == ["att-scale", "att-softmax-axis", "att-properties"]
        asked, result = run_session(store, T0 + timedelta(days=1), ATTENTION_ANSWERS)
    assert asked[0] == "att-properties"  # wrong yesterday: due after 1 minute, so the most overdue
    assert len(result.outcomes) == 3


def test_due_questions_come_before_new_ones_and_undue_ones_wait():
    bank = load_bank(BASIC)
    with Store.open() as store:
        asked, _ = run_session(store, T0, {"att-scale": ["a"]}, count=1)
        assert asked == ["att-scale"]
        plan = plan_session(bank.questions, store.cards(), T0 + timedelta(minutes=5), count=10)
        assert [(p.question.id, p.reason) for p in plan][:2] == [("att-scale", "due"), ("param-dhead", "new")]
        run_session(store, T0 + timedelta(minutes=5), {"att-scale": ["b"]}, count=1)
        plan = plan_session(bank.questions, store.cards(), T0 + timedelta(minutes=10), count=10)
    assert "att-scale" not in [p.question.id for p in plan]  # next due at +15 minutes
    assert len(plan) == 4


def test_count_caps_the_session():
    with Store.open() as store:
        asked, result = run_session(store, T0, ATTENTION_ANSWERS, count=2)
    assert asked == ["att-scale", "att-softmax-axis"] and result.planned == 2


def test_cram_asks_anything_and_does_not_reschedule():
    with Store.open() as store:
        run_session(store, T0, ATTENTION_ANSWERS)
        before = store.cards()
        asked, result = run_session(store, T0 + timedelta(minutes=2), ATTENTION_ANSWERS, cram=True)
        assert sorted(asked) == sorted(ATTENTION_ANSWERS)  # none of the three is due yet but cram asks them
        assert store.cards() == before
        cram_flags = [row[0] for row in store.connection.execute("SELECT cram FROM reviews ORDER BY id")]
    assert cram_flags == [0, 0, 0, 1, 1, 1]


def test_each_answer_is_committed_before_the_next_question():
    with Store.open() as store:
        class Peeking(ScriptedTerminal):
            def show_question(self, asked, index, total, reason):
                with Store.open() as other:  # a second connection sees what the first committed
                    committed = other.connection.execute("SELECT COUNT(*) FROM reviews").fetchone()[0]
                assert committed == index - 1
                super().show_question(asked, index, total, reason)

        terminal = Peeking(ATTENTION_ANSWERS)
        Session(store, terminal, clock=lambda: T0).run(load_bank(BASIC).select("attention"), 10)
    assert len(terminal.asked) == 3


# --- marking helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("1050624", 1050624), ("1,050,624", 1050624), ("1 050 624", 1050624), ("1_050_624", 1050624),
        ("１，０５０，６２４", 1050624), ("1.05e6", 1.05e6), ("1.05M", 1.05e6), ("105万", 1.05e6), ("2k", 2000),
        ("1/8", 0.125), ("2^20", 2**20), ("2**10", 1024), ("-0.5", -0.5), ("~64", 64), ("64 parameters", 64),
        ("64个", 64),
    ],
)
def test_parse_number_accepts_the_ways_people_write_numbers(text, value):
    assert parse_number(text, Text(zh="个", en="parameters")) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "sixty-four", "1/0", "1e", "1.2.3"])
def test_parse_number_rejects_non_numbers(text):
    assert parse_number(text) is None


def test_parse_choices():
    valid = {"a": 1, "b": 2, "c": 3}
    assert parse_choices("a,c", valid) == {"a", "c"}
    assert parse_choices("CA", valid) == {"a", "c"}
    assert parse_choices("a、c", valid) == {"a", "c"}
    assert parse_choices("d", valid) is None
    assert parse_choices("", valid) is None


def test_parse_rating():
    assert [parse_rating(x) for x in ("1", "hard", "G", "e", "重来", "简单", "", "5", "x")] == [1, 2, 3, 4, 1, 4, None, None, None]


def test_key_points_covered_in_either_language():
    points = (Text(zh="沿键的维度", en="along the key axis"), Text(zh="每个查询的权重之和为 1", en="each query's weights sum to one"))
    assert covered_key_points("沿着键的维度做 softmax", points) == [True, False]
    assert covered_key_points("softmax along keys; weights of each query sum to one", points) == [True, True]
    assert covered_key_points("I do not know", points) == [False, False]


def test_a_chinese_paraphrase_covers_the_key_points_it_mentions():
    from mhaquiz.quiz.bank import load_bank

    question = next(q for q in load_bank(None).select() if q.id == "seed-what-is-mha")
    answer = "每个头有自己的投影，缩放点积注意力，拼接后输出投影"  # projections, scaled dot product, concat + W_o
    assert covered_key_points(answer, question.key_points) == [True, True, True, False]
    assert covered_key_points("多个头并行计算", question.key_points) == [False] * 4


# --- marking that says what it needs and what it read (numeric, multiple choice) ------------------


def test_an_exact_question_says_so_before_the_answer_and_echoes_what_it_read():
    result = ask("--topic", "parameters", "--difficulty", "easy", input="60\n")
    out = result.stdout
    assert out.index("The exact value is required.") < out.index("Your answer › 60")
    assert "(type the exact number:" in out and "1.05M" not in out  # no rounding suggested for an exact question
    assert "Your answer 60 ≠ 64 (The exact value is required.)" in out and "Wrong" in out


@pytest.mark.parametrize("answer", ["64", "64个", "64 个", "6.4e1", "2^6", "64 dims"])
def test_an_exact_answer_with_a_unit_or_counter_word_is_read(answer):
    result = ask("--topic", "parameters", "--difficulty", "easy", input=answer + "\n")
    assert "Correct" in result.stdout and "Your answer 64 = 64" in result.stdout


def test_empty_enter_means_do_not_know_and_the_hint_says_so():
    result = ask("--topic", "parameters", "--difficulty", "easy", input="\n")
    assert "Enter alone if you do not know" in result.stdout
    assert "You answered: don't know" in result.stdout and "Wrong" in result.stdout
    assert saved_reviews() == [("param-dhead", 1, 0, "", 0)]


APPROXIMATE = """\
topic: own
questions:
  - id: approx
    type: numeric
    prompt: {en: "How many parameters in one MHA layer with d_model = 512 (biases included)?"}
    answer: {formula: mha_param_count, params: {d: 512}, tolerance: 0.01}
"""


def test_an_approximate_question_states_its_tolerance_and_accepts_a_rounded_answer(tmp_path):
    bank = tmp_path / "own.yaml"
    bank.write_text(APPROXIMATE, encoding="utf-8")
    result = runner.invoke(app, ["ask", "--bank", str(bank)], input="1.05M\n", env=ENGLISH)
    out = result.stdout
    assert "Within 1% of the exact value counts as right." in out
    # the hint says how to write a number, with an example never near the answer (1,050,624 here)
    assert "type a number: 42000000000, 42,000,000,000, 4.2e10 or 42B (a unit after it is fine)" in out
    assert "Your answer 1,050,000 = 1,050,624 (Within 1% of the exact value counts as right.)" in out


@pytest.mark.parametrize("typed, chosen", [("2", "b) sqrt(d_k)"), ("b", "b) sqrt(d_k)"), ("1", "a) d_k")])
def test_choices_can_be_typed_as_numbers_and_the_choice_is_echoed(typed, chosen):
    result = ask("--topic", "attention", "--difficulty", "easy", input=typed + "\n")
    assert f"You chose: {chosen}" in result.stdout
    assert "Please type choice letters" not in result.stdout


def test_a_number_beyond_the_choices_is_asked_again_naming_both_forms():
    result = ask("--topic", "attention", "--difficulty", "easy", input="4\n2\n")
    assert "Please type choice letters (a, b, c) or numbers (1-3)" in result.stdout
    assert "Correct" in result.stdout


# --- sessions: Again comes back, Ctrl-C at the rating keeps the answer ------------------------------


class TimedScriptedTerminal(ScriptedTerminal):
    """Every answer typed takes 25 seconds."""

    def __init__(self, answers, now):
        super().__init__(answers)
        self.now = now

    def read_line(self, label):
        self.now[0] += timedelta(seconds=25)
        return super().read_line(label)


def test_a_question_rated_again_comes_back_in_the_same_session_once_due():
    now = [T0]  # att-scale is missed at +25 s, due again at +85 s; att-softmax-axis's three lines end at +100 s
    questions = load_bank(BASIC).select("attention")
    terminal = TimedScriptedTerminal({"att-scale": ["a", "b"], "att-softmax-axis": ["keys", "", "3"],
                                      "att-properties": ["a,b"]}, now)
    with Store.open() as store:
        result = Session(store, terminal, seed=0, clock=lambda: now[0]).run(questions, 10)
    assert terminal.asked == ["att-scale", "att-softmax-axis", "att-scale", "att-properties"]  # due: before new
    assert [outcome.correct for outcome in result.outcomes] == [False, True, True, True]
    assert result.waiting == []


def test_questions_still_waiting_at_the_end_are_announced_with_their_time():
    result = ask("--topic", "attention", "--difficulty", "easy", input="a\n")
    assert "1 question(s) you missed come back in 1m: run mhaquiz ask again then." in result.stdout


def test_ctrl_c_at_the_rating_keeps_the_answer_given_as_again(monkeypatch):
    def read_line(self, label):
        if label.startswith("Rate"):
            raise KeyboardInterrupt
        return "" if label.startswith("Covered") else "along the keys"

    monkeypatch.setattr(Terminal, "read_line", read_line)
    result = ask("--topic", "attention", "--difficulty", "medium")
    assert result.exit_code == 130
    assert saved_reviews() == [("att-softmax-axis", 1, 0, "along the keys", 0)]
    # the summary counts the answer it kept, as the store does
    assert "Answered 1, right or recalled 0 (0%)\nAgain 1 · Hard 0 · Good 0 · Easy 0\nMissed:\n" in result.stdout


# --- own banks: quick cards in one language ------------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "questions" / "README.md"


def readme_example(tmp_path) -> Path:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Your own bank"):]
    block = section[section.index("```yaml\n") + len("```yaml\n"):section.index("```", section.index("```yaml\n") + 7)]
    path = tmp_path / "my-cards.yaml"
    path.write_text(block, encoding="utf-8")
    return path


def test_the_minimal_own_bank_of_the_readme_loads_as_it_stands_and_is_asked(tmp_path):
    path = readme_example(tmp_path)
    bank = load_bank(path)
    assert [(q.id, q.languages, q.difficulty, q.explanation, q.source) for q in bank.questions] == [
        ("kv-cache-what", ("zh",), "medium", None, None), ("scale-factor", ("en",), "medium", None, None)]
    result = runner.invoke(app, ["ask", "--bank", str(path), "--lang", "en"], input="k and v\n\n3\n2\n", env=ENGLISH)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "This question exists in Chinese only." in out and "KV cache 里缓存的是什么？" in out
    assert "You chose: b) sqrt(d_k)" in out and "Correct" in out
    assert "Explanation" not in out and "Source" not in out  # none given, none shown


def test_the_built_in_rules_are_strict_and_an_own_bank_is_not(tmp_path):
    path = readme_example(tmp_path)
    with pytest.raises(MhaquizError) as caught:
        load_bank(path, strict=True)
    problems = caught.value.params["problems"]
    assert "missing `title: {zh, en}`" in problems and "prompt (with zh and en) must be a mapping" in problems
    assert "choice b: missing zh" in problems
    assert "missing explanation" in problems and "missing source" in problems and "missing difficulty" in problems
    assert len(load_bank().questions) >= 130  # the built-in bank passes the strict rules


@pytest.mark.parametrize("case, problem", [
    ("  - id: x\n    type: mcq\n    prompt: Which?\n    choices: {a: one}\n    answer: [a]\n", "an mcq needs at least two choices"),
    ("  - id: x\n    type: numeric\n    prompt: n?\n    answer: {formula: d_head, params: {d: 8, heads: 2}, tolerance: -1}\n",
     "tolerance must be a relative error >= 0"),
    ("  - id: x\n    type: open\n    prompt: why?\n    answer: because\n    key_points: [one]\n    hint: none\n", "unknown field 'hint'"),
    ("  - id: x\n    type: open\n    prompt: 为什么？\n    answer: because\n    key_points: [one]\n",
     "share no language"),
])
def test_an_own_bank_still_refuses_what_cannot_be_asked(tmp_path, case, problem):
    path = tmp_path / "own.yaml"
    path.write_text("topic: own\nquestions:\n" + case, encoding="utf-8")
    with pytest.raises(MhaquizError) as caught:
        load_bank(path)
    assert problem in caught.value.params["problems"]


@pytest.mark.parametrize("expected", [0.5, 8, 64, 4096, 1_050_624, 1.2e6, 7e8, 7e9, 1.75e11, 4.2e10, 1e15])
def test_the_numeric_example_is_never_within_100x_of_the_answer(expected):
    from mhaquiz.quiz.marking import numeric_example

    example = numeric_example(expected)
    assert not 0.01 < example["value"] / expected < 100
    for form in ("plain", "grouped", "sci", "short"):  # every form reads as the example's number
        assert parse_number(example[form]) == pytest.approx(example["value"], rel=0.01)


def test_an_exact_numeric_question_shows_an_example_far_from_its_answer():
    result = ask("--topic", "parameters", "--difficulty", "easy", input="64\n")
    assert "type the exact number: 42000000000 or 42,000,000,000 (a unit after it is fine)" in result.stdout


# --- key points: the learner ticks, the ticks suggest --------------------------------------------


@pytest.mark.parametrize("typed, saved_rating, line", [
    ("12\n\n", 3, "Covered 2/2: suggested rating 3 Good"),  # a paraphrase the heuristic missed, ticked by hand
    ("2\n\n", 2, "Covered 1/2: suggested rating 2 Hard"),
    ("0\n\n", 1, "Covered 0/2: suggested rating 1 Again"),
    ("\n\n", 1, "Covered 0/2: suggested rating 1 Again"),  # Enter keeps the program's ticks: none found
    ("1, 2\n4\n", 4, "Covered 2/2: suggested rating 3 Good"),  # the learner's rating wins over the suggestion
])
def test_the_learner_ticks_key_points_and_enter_takes_the_suggested_rating(typed, saved_rating, line):
    answer = "normalise across what each query looks at; the row is a distribution"  # the right idea, other words
    result = ask("--topic", "attention", "--difficulty", "medium", input=answer + "\n" + typed)
    out = result.stdout
    assert "  1 · along the key axis\n  2 · each query's weights sum to one\n" in out  # nothing found: unticked
    assert line in out
    assert saved_reviews() == [("att-softmax-axis", saved_rating, int(saved_rating > 1), answer, 0)]


def test_ticks_that_are_not_key_point_numbers_are_asked_again_in_chinese():
    result = ask("--topic", "attention", "--difficulty", "medium", "--lang", "zh", input="沿着键\n5\n1\n\n")
    out = result.stdout
    assert "请输入要点编号 1-2（如 13），回车保留 ✓，或输入 0 表示都没答到" in out
    assert "答到 1/2 点：建议自评 2 困难" in out and "自评（1-4，回车 = 2 困难）" in out
    assert saved_reviews()[0][1] == 2


def test_parse_ticks_forms():
    from mhaquiz.quiz.marking import parse_ticks, suggested_rating

    found = [True, False, False]
    assert parse_ticks("", 3, found) == found and parse_ticks("13", 3, found) == [True, False, True]
    assert parse_ticks("３，１", 3, found) == [True, False, True] and parse_ticks("0", 3, found) == [False] * 3
    assert parse_ticks("4", 3, found) is None and parse_ticks("a", 3, found) is None
    assert [suggested_rating(t) for t in ([True] * 3, [True, True, False], [True, False, False], [])] == [3, 2, 1, 1]


def test_comes_back_in_says_what_the_button_said_however_slow_the_machine():
    """Every reading of the clock moves it 90 s on: the line after the rating still says the Good button's 10m."""
    moments = iter(T0 + timedelta(seconds=90 * step) for step in range(1000))
    terminal = ScriptedTerminal({"att-scale": ["b"]})
    with Store.open() as store:
        Session(store, terminal, seed=0, clock=lambda: next(moments)).run(load_bank(BASIC).select("attention", "easy"), 1)
    out = terminal.console.file.getvalue()
    assert "Comes back in 10m" in out
