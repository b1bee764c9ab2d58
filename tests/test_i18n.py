"""Chinese first: the locale decides the language (LANGUAGE's priority list included); Chinese text from YAML
and Markdown renders without the spaces folding puts between CJK characters; and a whole first session under
a Chinese locale shows no English sentence, only code, identifiers and terms such as softmax or KV cache."""

import re

import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.grader.exercises import all_exercises, get_exercise
from mhaquiz.i18n import fold_cjk, join_cjk_lines, locale_language
from mhaquiz.quiz.bank import load_bank
from tests.helpers import reference_source, with_edits

runner = CliRunner()
CHINESE = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "zh_CN.UTF-8", "COLUMNS": "80"}
CJK = "\u3400-\u4dbf\u4e00-\u9fff"
CJK_PUNCTUATION = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"


@pytest.mark.parametrize("environ, expected", [
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"),
    ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LC_MESSAGES": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en"}, "zh"),  # GNU LANGUAGE's priority list comes first
    ({"LANG": "zh_CN.UTF-8", "LANGUAGE": "fr:en"}, "en"),  # its first zh or en entry
    ({"LANG": "zh_CN.UTF-8", "LANGUAGE": "fr"}, "zh"),  # none of ours: the locale decides
    ({"LANG": "C", "LANGUAGE": "zh_CN"}, "en"),  # as gettext: LANGUAGE is ignored under the C locale
    ({}, "en"),
])
def test_the_locale_chooses_the_language(environ, expected):
    assert locale_language(environ) == expected


def test_fold_cjk_removes_folding_spaces_but_keeps_those_around_latin_words():
    assert fold_cjk("生成新 token 时不会改变。 打分、 对所有 位置") == "生成新 token 时不会改变。打分、对所有位置"
    assert fold_cjk("用 “-inf” 填充 —— 不是 0") == "用“-inf”填充——不是 0"
    assert fold_cjk("softmax over the keys — “rows”") == "softmax over the keys — “rows”"  # English untouched


def test_join_cjk_lines_joins_soft_breaks_but_not_list_items_or_code():
    markdown = "第一句在这里\n接着写。\n`x @ W` 在下一行\n\n- 列表一\n- 列表二\n\n```python\nx = 1\n# 注释\n# 注释\n```\n"
    assert join_cjk_lines(markdown) == "第一句在这里接着写。`x @ W` 在下一行\n\n- 列表一\n- 列表二\n\n```python\nx = 1\n# 注释\n# 注释\n```\n"


def bad_spaces(text: str) -> list:
    """Places where a space sits between two CJK characters or right after CJK punctuation."""
    return re.findall(f"[{CJK}][ \t]+[{CJK}]|[{CJK_PUNCTUATION}][ \t]+\\S", text)


def zh_texts(question):
    texts = [question.prompt.zh, question.explanation.zh if question.explanation else "",
             question.answer_text.zh if question.answer_text else ""]
    texts += [point.zh for point in question.key_points] + [choice.zh for choice in question.choices.values()]
    return [text for text in texts if text]


def test_no_chinese_text_in_the_bank_renders_with_a_stray_space():
    bank = load_bank()
    found = {question.id: bad_spaces(text) for question in bank.questions for text in zh_texts(question) if bad_spaces(text)}
    assert found == {}
    assert all(title.zh and not bad_spaces(title.zh) for title in bank.topic_titles.values())


@pytest.mark.parametrize("exercise_id", [exercise.id for exercise in all_exercises()])
def test_no_chinese_prompt_renders_with_a_stray_space(exercise_id):
    exercise = get_exercise(exercise_id)
    prose = re.sub(r"```.*?```", "", exercise.prompt("zh"), flags=re.S)  # code blocks keep their spaces
    # as rendered: a line left after joining is its own paragraph, list item or heading; within a line, and
    # across a soft break that rendering would turn into a space, no stray space
    lines = [line.strip() for line in prose.splitlines() if not line.strip().startswith("|")]  # tables: own layout
    found = [bad_spaces(line) for line in lines if bad_spaces(line)]
    soft = re.findall(f"[{CJK}]\\n[ \\t]*[{CJK}]|[{CJK_PUNCTUATION}]\\n[ \\t]*[^\\s\\-*+>|#\\d]", prose)
    assert found == [] and soft == []


def test_every_topic_has_a_name_in_both_languages_and_it_is_shown():
    bank = load_bank()
    assert set(bank.topic_titles) == set(bank.topics)
    result = runner.invoke(app, ["questions", "--lang", "zh"], env=CHINESE)
    assert result.exit_code == 0
    assert "注意力掩码 (--topic masking)" in result.stdout
    assert "{" not in result.stdout  # numeric prompts shown with numbers, never their templates


# --- a whole first session under a Chinese locale ------------------------------------------------------

CODE_LINE = re.compile(r"^\s{2,}(File \"|\^|[\w.\[\]()'\", =+\-*/@:#]+$)|^\s*\|")
ALLOWED = re.compile(r"`[^`]*`|mhaquiz( [\w./'\"-]+)*|--\w[\w-]*|\S*/\S*|\S+\.py\b|[\w.]+\([^)]*\)|\w+Error|"
                     r"\b[A-Z]\w*=\d+|\b\w+_\w+\b|\bx\s?\d+\b")


def english_sentences(text: str) -> list:
    """Runs of three or more English words on one line, outside code, paths, commands and identifiers."""
    found = []
    for line in text.splitlines():
        if CODE_LINE.search(line) or line.startswith(("出处：", "Source: ")):  # code; citations of sources
            continue
        line = re.sub(r"原句：[^）)]*", "", line)  # a sentence quoted from its paper
        line = re.sub(r"\w+(Error|Exception)[：:].*", "", line)  # an exception's own message: Python's words
        stripped = ALLOWED.sub(" ", line)
        found += [match.group() for match in re.finditer(r"\b[A-Za-z][a-z]+(?:[ ,]+[A-Za-z][a-z]+){2,}\b", stripped)]
    return found


def test_a_first_session_in_chinese_shows_no_english_sentence(tmp_path):
    work = tmp_path / "我的练习"
    transcript = []

    def run(*args, input=None, code=None):
        result = runner.invoke(app, [str(arg) for arg in args], input=input, env=CHINESE)
        if code is not None:
            assert result.exit_code == code, result.output
        transcript.append((args[0], result.stdout + result.stderr))
        return result

    run("ask", "--count", "4", "--seed", "3", input="1\n" * 12, code=0)
    run("start", "mha_forward", "--dir", work, code=0)
    run("hint", "mha_forward", code=0)
    target = work / "mha_forward.py"
    run("grade", target, code=1)  # the untouched stub
    target.write_text(with_edits(reference_source("mha_forward"), ("(Q / np.sqrt(dh))", "Q")), encoding="utf-8")
    run("grade", target, code=1)  # a wrong answer: table, first failure, mistake, heat map
    target.write_text(with_edits(reference_source("mha_forward"), ('    D = q.shape[-1]\n',
                                                                   '    D = q.shape[-1]\n    print(undefined)\n')),
                      encoding="utf-8")
    run("grade", target, code=1)  # a runtime error, explained
    target.write_text(reference_source("mha_forward"), encoding="utf-8")
    run("grade", target, code=0)  # passed: speed, next step
    run("watch", target, "--stop-after", "0.5", code=0)
    solution = run("solution", "mha_forward", code=0)
    transcript[-1] = ("solution", solution.stderr)  # stdout is the reference's source code: code, not prose
    run("interview", "--minutes", "1", "--questions", "1", "--exercise", "softmax", "--dir", work,
        "--seed", "1", input="1\ndone\n", code=0)
    run("stats", code=0)
    run("list", code=0)
    run("task", "softmax", code=0)
    for command, output in transcript:
        assert english_sentences(output) == [], (command, output)
    everything = "".join(output for _, output in transcript)
    for chinese in ("本次小结", "答案错误", "看起来像", "通过 mha_forward", "模拟面试", "面试小结", "编程练习"):
        assert chinese in everything, chinese
