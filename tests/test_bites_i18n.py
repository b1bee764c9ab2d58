"""Language choice at its edges (gettext's rules for LANGUAGE and the C locale) and the terminal-safe text of
the learner's output (every control and bidi character made visible, none dropped, none left to act)."""

import pytest

from mhaquiz.grader.render import safe
from mhaquiz.i18n import locale_language


@pytest.mark.parametrize("environ, expected", [
    ({"LANG": "C", "LANGUAGE": "zh_CN"}, "en"),  # gettext ignores LANGUAGE under the C locale
    ({"LANG": "POSIX", "LANGUAGE": "zh_CN"}, "en"),
    ({"LC_ALL": "C.UTF-8", "LANGUAGE": "zh"}, "en"),
    ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en"}, "zh"),  # otherwise its first language we speak wins
    ({"LANG": "zh_CN.UTF-8", "LANGUAGE": "fr:en"}, "en"),
    ({"LC_ALL": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),  # LC_ALL first
    ({"LC_MESSAGES": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),  # then LC_MESSAGES, then LANG
])
def test_the_locale_and_language_rules(environ, expected):
    assert locale_language(environ) == expected


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x9b",
                                  "\u061c", "\u200e", "\u200f", "\u202a", "\u202d", "\u202e", "\u2066", "\u2069",
                                  "\u2028", "\u2029"])
def test_every_control_and_bidi_character_is_shown_escaped(char):
    shown = safe(f"a{char}b")
    assert char not in shown
    assert shown.startswith("a\\") and shown.endswith("b")
    assert f"{ord(char):02x}" in shown


def test_newlines_tabs_and_chinese_are_kept_as_they_are():
    text = "第一行\n\tsecond：值"
    assert safe(text) == text
