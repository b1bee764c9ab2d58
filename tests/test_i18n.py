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


# --- line breaking: Chinese between characters, never before closing or after opening punctuation ---------

from rich.cells import cell_len  # noqa: E402

from mhaquiz.i18n import CLOSING, OPENING, contains_cjk, divide_line  # noqa: E402

# never broken: a path (its Chinese folder names too) and a shape such as (2, 1, 5, 5)
WHOLE = r"['\"]?(?:~|\.\.?)?/[^\s'\"\u3000-\u303f\uff01-\uff65“”‘’]+['\"]?(?=[^\w/.-]|$)|\(\d+(?:, \d+)*,?\)"
NEXT_UNIT = re.compile(rf"[{re.escape(OPENING)}]*(?:{WHOLE}|[{CJK}\uff01-\uff65\u3000-\u303f]|[^\s{CJK}\uff01-\uff65\u3000-\u303f]+)"
                       rf"(?:\s*[{re.escape(CLOSING)}])*")  # closing punctuation, even after a space, goes with it


def lines_of(text: str, width: int) -> list:
    breaks = [0, *divide_line(text, width), len(text)]
    return [text[start:end] for start, end in zip(breaks, breaks[1:])]


def test_chinese_breaks_between_characters_and_latin_words_stay_whole():
    text = "参考答案：多头注意力（Multi-Head Attention）是 Transformer 的核心组件，把 h 个头的输出拼接起来。"
    lines = lines_of(text, 20)
    assert "".join(lines) == text
    assert all(cell_len(line.rstrip()) <= 20 for line in lines)
    assert not any(line.lstrip().startswith(tuple(CLOSING)) for line in lines)  # no line starts with ，。）
    assert not any(line.rstrip().endswith(tuple(OPENING)) for line in lines)  # none ends with （“
    for word in ("Multi-Head", "Attention）", "Transformer"):
        assert any(word in line for line in lines), (word, lines)
    # “ and ” are one cell wide, CJK characters two
    assert lines_of("用例“交叉注意力”、“自注意力”抛出了异常", 7) == ["用例“交", "叉注意", "力”、", "“自注意", "力”抛出", "了异常"]


def test_a_latin_word_longer_than_the_line_is_folded_as_rich_does():
    assert all(cell_len(line) <= 10 for line in lines_of("x" * 25 + " 中文", 10))


def chinese_texts():
    bank = load_bank()
    texts = [text for question in bank.questions for text in zh_texts(question)]
    return [line for text in texts for line in fold_cjk(text).splitlines() if contains_cjk(line)]


@pytest.mark.parametrize("width", [24, 37, 60, 80, 100])
def test_every_chinese_text_of_the_bank_wraps_tightly_and_by_the_rules(width):
    """At each break, the next piece (a CJK character with its punctuation, or a Latin word) would not have fit
    on the line; no line starts with closing punctuation or ends with opening punctuation."""
    texts = chinese_texts()
    assert len(texts) > 300
    for text in texts:
        lines = lines_of(text, width)
        for line, following in zip(lines, lines[1:]):
            wide = re.escape("".join(char for char in OPENING + CLOSING if not char.isascii()))
            if re.fullmatch(rf"[^\s{CJK}{CJK_PUNCTUATION}{wide}]{{2}}", line[-1] + following[0]):
                # inside a Latin word: only a word longer than a line is cut (folded, as rich does)
                head = re.match(rf".[{re.escape(CLOSING)}]*", following).group()  # a character, and what sticks to it
                assert cell_len(line) + cell_len(head) > width, (width, line, following)
                continue
            piece = NEXT_UNIT.match(following)
            assert piece and piece.group(), (text, following)
            if cell_len(piece.group()) <= width:  # a piece longer than any line is folded: nothing to check
                assert cell_len(line) + cell_len(piece.group()) > width, (width, line, following)
            # (ASCII ) : , after a space are code, as in mask[:, :T]: a line may start with them)
            assert not following.startswith(tuple(char for char in CLOSING if not char.isascii())), (width, following)
            assert not line.rstrip().endswith(tuple(OPENING)), (width, line)


# --- typer's own messages in the learner's language; --lang before the command -------------------------------

ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "en_US.UTF-8", "COLUMNS": "200"}


def test_typers_usage_errors_are_in_chinese_under_a_chinese_locale():
    cases = [
        (["aks"], "没有“aks”这个命令。你是不是想用 ask？"),
        (["start"], "缺少参数 ID。"),
        (["ask", "-n", "0"], "--count、-n 的值无效：0 不在允许的范围 x>=1 内。"),
        (["ask", "-n", "x"], "--count、-n 的值无效：“x”不是有效的整数。"),
        (["stats", "--bogus"], "没有 --bogus 这个选项。"),
        (["grade", "a.py", "b.py"], "多出了无法识别的参数：b.py"),
        (["ask", "--topic"], "选项 --topic 后面需要一个值。"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args, env={**CHINESE, "COLUMNS": "200"})
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "错误" in result.output and "Usage" not in result.output and "Error" not in result.output
        assert ("用法：mhaquiz" in result.output) == (args != ["ask", "--topic"])  # typer gives no usage for that one
        assert english_sentences(result.output) == [], (args, result.output)


def test_the_same_errors_stay_in_english_under_an_english_locale_or_lang_en():
    for env, args in ((ENGLISH, ["aks"]), (CHINESE, ["--lang", "en", "aks"]), (CHINESE, ["aks", "--lang", "en"])):
        result = runner.invoke(app, args, env={**env, "COLUMNS": "200"})
        assert result.exit_code == 2
        assert "No such command 'aks'. Did you mean ask?" in result.output and "Usage: mhaquiz" in result.output


def test_lang_before_the_command_applies_to_it(tmp_path):
    english = runner.invoke(app, ["--lang", "en", "stats"], env=CHINESE)
    assert english.exit_code == 0, english.output
    assert "answers" in english.stdout and not contains_cjk(english.stdout.split("\n")[0])
    chinese = runner.invoke(app, ["--lang", "zh", "stats"], env=ENGLISH)
    assert chinese.exit_code == 0 and contains_cjk(chinese.stdout.split("\n")[0])
    own = runner.invoke(app, ["--lang", "zh", "stats", "--lang", "en"], env=ENGLISH)  # the command's own wins
    assert not contains_cjk(own.stdout.split("\n")[0])


def test_help_follows_lang_and_its_own_words_are_translated():
    chinese = runner.invoke(app, ["--lang", "zh", "start", "--help"], env=ENGLISH).output
    assert "用法：mhaquiz start" in chinese and "显示此帮助并退出。" in chinese and "Show this message" not in chinese
    assert "把练习的模板写到" in chinese
    english = runner.invoke(app, ["start", "--help", "--lang", "en"], env=CHINESE).output
    assert "Usage: mhaquiz start" in english and "Show this message and exit." in english
    assert not contains_cjk(english)


@pytest.mark.parametrize("env", [CHINESE, ENGLISH], ids=["zh", "en"])
def test_each_command_summary_is_one_whole_sentence(env):
    from mhaquiz.i18n import catalogue

    lang = "zh" if env is CHINESE else "en"
    output = runner.invoke(app, ["--help"], env={**env, "COLUMNS": "200"}).output
    names = [name for name in ("grade", "doctor", "ask", "questions", "stats", "list", "start", "task", "hint",
                               "solution", "reset", "watch", "interview", "export")]
    for name in names:
        summary = catalogue(lang)[f"help.short.{name}"]
        assert summary.endswith("。" if lang == "zh" else "."), summary
        assert summary.count("。" if lang == "zh" else ". ") == (1 if lang == "zh" else 0), summary  # one sentence
        assert re.search(rf"│ {name} +{re.escape(summary)} +│", output), (name, output)
    assert "…" not in output


# --- the reference solutions explain themselves in both languages ------------------------------------------

import ast as _ast  # noqa: E402
import io as _io  # noqa: E402
import tokenize as _tokenize  # noqa: E402

from mhaquiz.paths import content_dir  # noqa: E402

SOLUTIONS = sorted(path.stem for path in content_dir("solutions").glob("*.py"))
TORCH_SOLUTIONS = sorted(path.stem for path in (content_dir("solutions") / "torch").glob("*.py"))
WIDE = f"[{CJK}{CJK_PUNCTUATION}]"
SLASH = re.compile(r"\s?/\s")  # between the Chinese and the English of one line: "拆头 / split", "（PyTorch）/ Reference"


def untranslated_comments(source: str) -> list:
    """Comments with English prose that have no Chinese line just above them and no Chinese of their own."""
    lines = source.splitlines()
    found = []
    for token in _tokenize.generate_tokens(_io.StringIO(source).readline):
        if token.type != _tokenize.COMMENT or len(re.findall(r"\b[a-z]{3,}\b", token.string)) < 2:
            continue
        row = token.start[0] - 1
        above = [line.strip() for line in lines[max(0, row - 6):row]]
        if not (contains_cjk(token.string) or any(line.startswith("#") and contains_cjk(line) for line in above)):
            found.append((row + 1, token.string))
    return found


@pytest.mark.parametrize("name", SOLUTIONS)
def test_every_reference_solution_explains_itself_in_chinese_first_then_english(name):
    """What `mhaquiz solution` shows: every docstring opens in Chinese and keeps its English; every comment
    with English prose has a Chinese line just above it (or opens in Chinese itself)."""
    source = (content_dir("solutions") / f"{name}.py").read_text(encoding="utf-8")
    tree = _ast.parse(source)
    for node in _ast.walk(tree):
        if isinstance(node, (_ast.Module, _ast.FunctionDef)):
            doc = _ast.get_docstring(node)
            assert doc, (name, getattr(node, "name", "module"))
            paragraphs = doc.split("\n\n")
            assert re.search(WIDE, paragraphs[0]), (name, doc[:80])  # Chinese first
            assert any(re.search("[A-Za-z]", part) and not re.search(WIDE, part) for part in paragraphs[1:]), \
                (name, doc[:80])  # then the English, whole
    assert untranslated_comments(source) == [], name


def english_part(doc: str) -> bool:
    """An English paragraph, line, or the part after " / " of a "中文 / English" line: two English words or
    more, no Chinese."""
    pieces = doc.split("\n\n") + doc.splitlines() + [SLASH.split(line, 1)[-1] for line in doc.splitlines()]
    return any(len(re.findall(r"\b[A-Za-z]{2,}\b", piece)) >= 2 and not re.search(WIDE, piece) for piece in pieces)


def chinese_first(doc: str) -> bool:
    """The first line is Chinese, or opens in Chinese before a " / English" part."""
    return bool(re.search(WIDE, SLASH.split(doc.splitlines()[0], 1)[0]))


@pytest.mark.parametrize("name", TORCH_SOLUTIONS)
def test_every_torch_reference_explains_itself_in_chinese_first_then_english(name):
    """What `mhaquiz solution --torch` shows, in the PyTorch references' compact form: the module, every class
    and every function or method (a class's docstring speaks for its __init__) has a docstring whose first line
    is Chinese and that says it in English too (a paragraph, or "中文 / English" on one line); comments as in
    the NumPy references."""
    source = (content_dir("solutions") / "torch" / f"{name}.py").read_text(encoding="utf-8")
    for node in _ast.walk(_ast.parse(source)):
        if isinstance(node, (_ast.Module, _ast.ClassDef, _ast.FunctionDef)) and getattr(node, "name", "") != "__init__":
            doc = _ast.get_docstring(node)
            where = (name, getattr(node, "name", "module"))
            assert doc, where
            assert chinese_first(doc), (where, doc[:80])
            assert english_part(doc), (where, doc[:80])
    assert untranslated_comments(source) == [], name


def test_the_bilingual_checks_refuse_english_only_text():
    """The checks above bite: an English-only docstring, an English-first one, and an English comment fail."""
    assert not english_part("只有中文，没有英文。")
    assert english_part("拆头 / split the heads") and english_part("拆头。\n\nSplit the heads.")
    assert not english_part("拆头 / (B, T, D)")  # shapes are not English
    assert chinese_first("拆头 / split the heads") and not chinese_first("split the heads / 拆头")
    assert untranslated_comments("x = 1  # keeps the row max\n") == [(1, "# keeps the row max")]
    assert untranslated_comments("# 每行的最大值\nx = 1  # keeps the row max\n") == []


# --- the PyTorch track's hints speak PyTorch ---------------------------------------------------------------

NUMPY_SPEAK = re.compile(r"\bnp\.|\baxis=|\bkeepdims\b")  # torch says torch.*, dim=, keepdim


def numpy_speaking(exercise) -> bool:
    """Whether an exercise with a PyTorch form has NumPy hints that name NumPy's own API."""
    return exercise.solution_path_for("torch").exists() and any(
        NUMPY_SPEAK.search(hint["zh"] + hint["en"]) for hint in exercise.meta.get("hints") or [])


def test_every_torch_exercise_whose_hints_speak_numpy_has_torch_hints_that_do_not():
    from mhaquiz.practice import loop

    speaking = [exercise for exercise in all_exercises() if numpy_speaking(exercise)]
    assert {"softmax", "softmax_backward", "mha_forward"} <= {exercise.id for exercise in speaking}
    assert [exercise.id for exercise in speaking if not exercise.meta.get("torch_hints")] == []
    for exercise in speaking:
        zh, en = loop.hints(exercise, "zh", "torch"), loop.hints(exercise, "en", "torch")
        assert len(zh) == len(en) == len(exercise.meta["torch_hints"]) >= 3, exercise.id
        assert [hint for hint in zh + en if NUMPY_SPEAK.search(hint)] == [], exercise.id
        assert all(contains_cjk(hint) for hint in zh) and not any(contains_cjk(hint) for hint in en), exercise.id
        assert [bad_spaces(hint) for hint in zh if bad_spaces(hint)] == [], exercise.id


@pytest.mark.parametrize("exercise_id", ["softmax", "softmax_backward", "mha_forward"])
def test_hint_torch_shows_pytorch_not_numpy(exercise_id, tmp_path):
    """Through the CLI: every `hint --torch` gives a PyTorch hint (keepdim, view and transpose, nn.Linear ...),
    one per NumPy hint, and the NumPy track keeps its own."""
    exercise = get_exercise(exercise_id)
    assert len(exercise.meta["torch_hints"]) == len(exercise.meta["hints"])
    env = {**CHINESE, "COLUMNS": "200", "MHAQUIZ_HOME": str(tmp_path)}
    shown = [runner.invoke(app, ["hint", exercise_id, "--torch"], env=env) for _ in exercise.meta["hints"]]
    numpy = runner.invoke(app, ["hint", exercise_id], env=env)
    assert all(result.exit_code == 0 for result in shown + [numpy]), [result.output for result in shown]
    text = "".join(result.stdout for result in shown)
    assert "np." not in text and "keepdims" not in text and "axis=" not in text

    def squash(printed):  # whatever the wrapping
        return re.sub(r"\s+", "", printed)

    for hint, result in zip(exercise.meta["torch_hints"], shown):
        assert squash(hint["zh"]) in squash(result.stdout), (hint["zh"], result.stdout)
    assert squash(exercise.meta["hints"][0]["zh"]) in squash(numpy.stdout)


def test_questions_piped_prints_one_plain_line_per_question():
    bank = load_bank()
    result = runner.invoke(app, ["questions"], env={**CHINESE, "COLUMNS": "60"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert not any(char in result.stdout for char in "┏┃│╭━")  # no table
    assert sum(line.startswith("== ") and line.endswith(" ==") for line in lines) == len(bank.topics)
    rows = [line for line in lines if line.count(" · ") >= 3]
    assert len(rows) == len(bank.questions)
    assert {row.split(" · ")[0] for row in rows} == {question.id for question in bank.questions}
    assert "== 注意力掩码 (--topic masking) ==" in lines
