"""A whole first session, as a new learner has it, in Chinese and in English, at 60 and 100 columns, drawn as in a
terminal (panels, tables, wrapping): ask, start, task, hint, a wrong then a right grade, watch, solution,
interview, stats, reset, doctor, export.

What every screen must satisfy:
- Chinese screens hold no English sentence (three or more English words in a row, outside code, identifiers,
  paths, commands, quoted sources and Python's own exception messages);
- no line starts with closing punctuation (，。、；：？！）」』】》”) nor ends with opening punctuation;
- every text rich wrapped was wrapped tightly: at each break, the next piece (a CJK character with its
  punctuation, or a Latin word) would not have fit on the line;
- the counts the screens give are the counts in the progress store.
"""

import re
import sqlite3

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.i18n import CLOSING, OPENING
from tests.helpers import reference_source, with_edits
from tests.test_i18n import english_sentences

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BORDER = re.compile(r"^[│┃║]\s?|\s?[│┃║]\s*$")
WIDE_CLOSING = tuple(char for char in CLOSING if not char.isascii() and char != "·")  # · is also a bullet
CJK = "\u3400-\u4dbf\u4e00-\u9fff"
# never broken: a path (its Chinese folder names too) and a shape such as (2, 1, 5, 5)
WHOLE = r"['\"]?(?:~|\.\.?)?/[^\s'\"\u3000-\u303f\uff01-\uff65“”‘’]+['\"]?(?=[^\w/.-]|$)|\(\d+(?:, \d+)*,?\)"
NEXT_PIECE = re.compile(rf"[{re.escape(OPENING)}]*(?:{WHOLE}|[{CJK}\u3000-\u303f\uff01-\uff65]|[^\s{CJK}\u3000-\u303f\uff01-\uff65]+)"
                        rf"(?:\s*[{re.escape(''.join(c for c in CLOSING if not c.isascii()))}]|[{re.escape(CLOSING)}])*")


def environment(lang: str, columns: int) -> dict:
    """A terminal of `columns` columns (rich draws panels and wraps as in one), no colour, the locale's language."""
    return {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "zh_CN.UTF-8" if lang == "zh" else "en_US.UTF-8",
            "COLUMNS": str(columns), "TTY_COMPATIBLE": "1", "NO_COLOR": "1", "TTY_INTERACTIVE": "0"}


@pytest.fixture
def wrapped(monkeypatch):
    """Every (text, width, breaks) rich's wrapping computed during the test."""
    import rich.text

    from mhaquiz.console import install_line_breaking

    install_line_breaking()
    calls = []
    breaking = rich.text.divide_line

    def spy(text, width, fold=True):
        breaks = breaking(text, width, fold)
        calls.append((text, width, breaks))
        return breaks

    monkeypatch.setattr(rich.text, "divide_line", spy)
    return calls


def first_session(tmp_path, lang: str, columns: int, wrapped: list) -> list:
    """Run the session; [(command, screen text, the paragraphs rich wrapped on it)]."""
    work = tmp_path / ("我的练习" if lang == "zh" else "practice")
    env = environment(lang, columns)
    screens = []

    def run(*args, input=None, code=0, screen="both"):
        before = len(wrapped)
        result = runner.invoke(app, [str(arg) for arg in args], input=input, env=env)
        assert result.exit_code == code, (args, result.output)
        text = {"both": result.stdout + result.stderr, "stderr": result.stderr}[screen]
        paragraphs = [] if screen == "stderr" else [text for text, _, _ in wrapped[before:]]
        screens.append((" ".join(str(arg) for arg in args[:2]), ANSI.sub("", text), paragraphs))
        return result

    # four questions: an open one answered and rated, then whatever comes, answered "don't know" or 1
    run("ask", "--count", "4", "--seed", "3", input="自注意力\n1\n\n3\n\n1\n\n1\n\n1\n")
    run("start", "mha_forward", "--dir", work)
    run("task", "mha_forward")
    run("hint", "mha_forward")
    target = work / "mha_forward.py"
    target.write_text(with_edits(reference_source("mha_forward"), ("(Q / np.sqrt(dh))", "Q")), encoding="utf-8")
    run("grade", target, code=1)  # wrong: the table, the first failure, the mistake named, the heat map
    target.write_text(with_edits(reference_source("mha_forward"), ("return np.expand_dims(mask, -3)",
                                                                   "return mask[:, None]")), encoding="utf-8")
    run("grade", target, code=1)  # a runtime error, explained from its shapes
    target.write_text(reference_source("mha_forward"), encoding="utf-8")
    run("grade", target)  # right: speed, the next step
    run("watch", target, "--stop-after", "0.5")
    run("solution", "mha_forward", "--yes", screen="stderr")  # stdout is the reference's source: code, not prose
    run("interview", "--minutes", "2", "--questions", "1", "--exercise", "softmax", "--dir", work, "--seed", "1",
        input="1\ndone\n")
    run("stats")
    run("list")
    run("reset", "mha_forward", "--dir", work, "--yes")
    run("doctor")
    run("export", "anki", tmp_path / "deck.apkg", "--lang", lang)
    return screens


def without_quoted_code(text: str) -> str:
    """A traceback's quoted source lines removed (the learner's own code and comments, in any language)."""
    kept, in_traceback = [], False
    for line in text.split("\n"):
        if line.startswith('  File "'):
            in_traceback = True
        elif in_traceback and line.startswith("    "):
            continue
        else:
            in_traceback = False
        kept.append(line)
    return "\n".join(kept)


def content_lines(screen: str) -> list:
    """The lines of a screen as the learner reads them: box borders and edges removed."""
    lines = []
    for line in screen.splitlines():
        if re.match(r"^\s*[╭╰┏┗┡└┌├╞]", line):  # a box's top or bottom edge
            continue
        lines.append(BORDER.sub("", line).strip())
    return lines


@pytest.mark.parametrize("columns", [60, 100])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_whole_first_session_reads_right(tmp_path, isolated_home, wrapped, lang, columns):
    screens = first_session(tmp_path, lang, columns, wrapped)
    everything = "\n".join(screen for _, screen, _ in screens)

    # what the learner sees is there, in the session's language
    expected = (["本次小结", "答案错误", "看起来像", "二维", "通过 mha_forward", "模拟面试", "面试小结", "编程练习",
                 "下一条提示", "沙箱"] if lang == "zh" else
                ["Session summary", "wrong answer", "Looks like", "2-D", "PASSED mha_forward", "interview",
                 "Exercises", "sandbox"])
    for words in expected:
        assert words in everything, (lang, words)

    for command, screen, paragraphs in screens:
        lines = content_lines(screen)
        # no line starts with closing punctuation, none ends with opening punctuation
        assert not [line for line in lines if line.startswith(WIDE_CLOSING)], (command, screen)
        assert not [line for line in lines if line.endswith(tuple(OPENING))], (command, screen)
        # every line fits the terminal
        assert max((cell_len(line) for line in screen.splitlines()), default=0) <= columns, \
            (command, [line for line in screen.splitlines() if cell_len(line) > columns])
        if lang == "zh":  # judged on whole paragraphs (a wrapped citation is still a citation), and on the rest
            rest = [line for line in lines if not any(line in paragraph for paragraph in paragraphs)]
            prose = without_quoted_code("\n".join(paragraphs)) + "\n" + "\n".join(rest)  # (rich wraps line by line)
            assert english_sentences(prose) == [], (command, screen)

    # a key point, a choice or a missed question that wraps continues under its own text, not under its marker
    ask_lines = screens[0][1].splitlines()
    bullets = re.compile(r"^│   (?:\d [✓·]|[a-e]\)|·) ")
    followers = re.compile(r"^│ {5,}\S|^│ (?:解析|出处|Explanation|Source|答错的|\d+ question|Comes back|下次)|^╰")
    wrapped_points = 0
    for line, following in zip(ask_lines, ask_lines[1:]):
        if bullets.match(line) and not bullets.match(following):
            assert followers.match(following), (line, following)
            wrapped_points += following.startswith("│     ")
    assert wrapped_points >= (2 if columns == 60 else 0)

    # every wrap was tight: at each break the next piece would not have fit
    assert len(wrapped) > 100
    loose = []
    for text, width, breaks in wrapped:
        bounds = [0, *breaks, len(text)]
        for start, end, after in zip(bounds, bounds[1:], bounds[2:]):
            line, following = text[start:end], text[end:after]
            piece = NEXT_PIECE.match(following)
            if piece and cell_len(piece.group()) <= width and cell_len(line) + cell_len(piece.group()) <= width:
                loose.append((width, line, following))
    assert loose == []

    # the counts shown are the store's
    with sqlite3.connect(f"file:{isolated_home / 'progress.sqlite3'}?mode=ro", uri=True) as db:
        answered = db.execute("SELECT COUNT(*) FROM reviews WHERE cram = 0").fetchone()[0]
        crammed = db.execute("SELECT COUNT(*) FROM reviews WHERE cram = 1").fetchone()[0]
        grades = dict(db.execute("SELECT exercise_id, COUNT(*) FROM grades GROUP BY exercise_id").fetchall())
        passed = {row[0] for row in db.execute("SELECT DISTINCT exercise_id FROM grades WHERE passed = 1")}
    ask_screen = screens[0][1]
    shown = re.search(r"答题 (\d+) 道" if lang == "zh" else r"Answered (\d+)", ask_screen)
    assert shown and int(shown.group(1)) == answered >= 4, ask_screen
    assert crammed == 1  # the interview's question: cram, the schedule untouched
    assert grades["mha_forward"] == 4  # wrong, raised, right, and watch's grade (the stub was never graded)
    assert "mha_forward" in passed
    stats_screen = {command: screen for command, screen, _ in screens}["stats"]
    totals = re.search(r"已通过 (\d+)" if lang == "zh" else r"(\d+) passed", stats_screen)
    assert totals and int(totals.group(1)) == len(passed), stats_screen


def test_the_rating_buttons_and_the_choices_at_narrow_widths(tmp_path):
    """The rating buttons never break inside a button; choices hang-indent their continuation lines."""
    from rich.console import Console

    from mhaquiz.console import install_line_breaking
    from mhaquiz.quiz.ui import Terminal, hanging

    install_line_breaking()
    console = Console(width=40, force_terminal=True, color_system=None, record=True)
    terminal = Terminal(console, "zh", interactive=False)
    terminal.show_buttons({1: "1分钟", 2: "6分钟", 3: "10分钟", 4: "8天"})
    lines = console.export_text().splitlines()
    assert lines == ["[1] 重来 (1分钟)  [2] 困难 (6分钟)", "[3] 良好 (10分钟)  [4] 简单 (8天)"]
    console = Console(width=30, force_terminal=True, color_system=None, record=True)
    console.print(hanging([("  a)", "softmax 之前，把分数设为 -∞（或很大的负数），再归一化")]))
    lines = console.export_text().splitlines()
    assert len(lines) >= 2 and lines[0].startswith("  a) softmax")
    assert all(line.startswith(" " * 5) and line.strip() for line in lines[1:])  # under the text, not the letter


BANK = """topic: my-cards
questions:
  - id: mask-when
    type: mcq
    prompt: {zh: "注意力 mask 在哪一步生效？", en: "Where does an attention mask act?"}
    choices:
      a: {zh: "softmax 之后", en: "After the softmax"}
      b: {zh: "softmax 之前", en: "Before the softmax"}
      c: {zh: "在 V 上", en: "On V"}
    answer: [b]
"""


def test_enter_for_dont_know_in_a_real_terminal_ends_the_prompt_line(tmp_path):
    """In a terminal (readline editing), Enter on an empty answer must leave the prompt's line: the next box
    starts on a line of its own. (Printing the prompt before input() let readline redraw over it.)"""
    import os
    import pty
    import select
    import sys
    import time

    bank = tmp_path / "cards.yaml"
    bank.write_text(BANK, encoding="utf-8")
    pid, fd = pty.fork()
    if pid == 0:  # the child: mhaquiz in a terminal of 60 columns
        os.environ.update(COLUMNS="60", LINES="40", LANG="zh_CN.UTF-8", LC_ALL="", NO_COLOR="1",
                          MHAQUIZ_HOME=str(tmp_path / "home"))
        os.execv(sys.executable, [sys.executable, "-m", "mhaquiz", "ask", "--bank", str(bank), "--count", "1"])
    screen = b""

    def read_for(seconds):
        nonlocal screen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    screen += os.read(fd, 65536)
                except OSError:
                    return

    try:
        deadline = time.monotonic() + 20
        while "你的答案".encode() not in screen and time.monotonic() < deadline:
            read_for(0.2)
        os.write(fd, b"\r")  # Enter: "don't know"
        read_for(3)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    text = ANSI.sub("", screen.decode("utf-8", errors="replace")).replace("\r", "")
    prompt_line = next(line for line in text.split("\n") if "你的答案 ›" in line)
    assert prompt_line.strip() == "你的答案 ›", repr(prompt_line)  # nothing drawn after the prompt
    assert "你的回答：不会" in text or "错误" in text  # and the answer was marked on the next lines
