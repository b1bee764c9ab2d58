"""The message catalogues: one per language, the same keys and placeholders in both, every key the code
uses present, and Chinese that is Chinese (no English sentence left on a Chinese screen)."""

import re
import string
from pathlib import Path

import pytest

from mhaquiz.grader.compare import MISMATCH_PROBLEMS
from mhaquiz.grader.verdict import Verdict
from mhaquiz.locales.en import MESSAGES as EN
from mhaquiz.locales.zh import MESSAGES as ZH

PACKAGE = Path(__file__).resolve().parents[1] / "mhaquiz"
CJK = re.compile(r"[\u4e00-\u9fff]")


def placeholders(text: str) -> set:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_both_catalogues_have_the_same_keys():
    assert sorted(EN) == sorted(ZH)


@pytest.mark.parametrize("key", sorted(EN))
def test_each_message_has_the_same_placeholders_in_both_languages(key):
    assert placeholders(EN[key]) == placeholders(ZH[key]), key


def used_keys() -> set:
    """Literal keys passed to t(), Message(), MhaquizError() and H() anywhere in the package."""
    keys = set()
    pattern = re.compile(r"""\b(?:t|Message|MhaquizError|catalogue_title)\(\s*["']([a-z_][a-z0-9_.]*)["']""")
    help_pattern = re.compile(r"""\bH\(\s*["']([a-z_][a-z0-9_.]*)["']""")
    for path in PACKAGE.rglob("*.py"):
        if "locales" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        keys.update(pattern.findall(source))
        keys.update(f"help.{key}" for key in help_pattern.findall(source))
    return keys


def test_every_key_the_code_uses_exists():
    missing = sorted(key for key in used_keys() if key not in EN)
    assert missing == []


def test_every_verdict_problem_and_command_has_its_words():
    for verdict in Verdict:
        for family in ("verdict", "verdict_short", "detail"):
            if family == "detail" and verdict == Verdict.PASSED:
                continue
            assert f"{family}.{verdict.value}" in EN, (family, verdict)
    for problem in (*MISMATCH_PROBLEMS, "missing", "type", "too_large", "dtype", "precision", "finite_differences",
                    "no_gradient"):
        assert f"problem.{problem}" in EN
    from mhaquiz.cli import app

    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert f"help.{name}" in EN or f"help.{command.callback.__name__}" in EN, name


ALLOWED_ENGLISH = re.compile(
    r"`[^`]*`|\{[^}]*\}|https?://\S+|mhaquiz( \w+)*|--\w[\w-]*|MHAQUIZ_\w+|[A-Za-z_]+\([^)]*\)|\[[^\]]*\]"
    r"|sudo apt-get install [\w-]+")


@pytest.mark.parametrize("key", sorted(ZH))
def test_chinese_messages_are_chinese(key):
    text = ZH[key]
    if EN[key] == text:  # identical on purpose: ids, formats, placeholders only
        assert not re.search(r"[A-Za-z]{3,}(\s+[A-Za-z]{3,}){2,}", ALLOWED_ENGLISH.sub("", text)), text
        return
    stripped = ALLOWED_ENGLISH.sub("", text)
    assert CJK.search(text) or not re.search(r"[A-Za-z]{2,}", stripped), f"{key}: {text}"
    # no English sentence: at most two English words in a row (terms like "padding mask", "KV cache" stay)
    run = re.search(r"\b[A-Za-z][a-z]+(\s+[A-Za-z][a-z]+){2,}\b", stripped)
    assert run is None, f"{key}: {run.group() if run else ''}"
