"""typer's and click's own messages in the learner's language.

typer (0.2x) carries its own copy of click whose messages are plain English f-strings, not gettext calls, so
no .mo file can reach them: the English message is read back here, pattern by pattern, into catalogue keys
(`click.*` in mhaquiz/locales/<lang>.py). A message no pattern knows is shown as typer wrote it.
"""

from __future__ import annotations

import re
from typing import Callable, List, Tuple

from mhaquiz.i18n import t

_QUOTED = re.compile(r"'([^']*)'")


def _names(text: str) -> List[str]:
    return _QUOTED.findall(text) or [text]


def _join(names: List[str], lang: str) -> str:
    return ("、" if lang == "zh" else ", ").join(names)


def _suggestion(suggestions: str, lang: str) -> str:
    return t("click.did_you_mean", lang, suggestions=_join(_names(suggestions), lang)) if suggestions else ""


def _detail(detail: str, lang: str) -> str:
    """The part after "Invalid value for X:" (a range, a number, a choice, a path)."""
    for pattern, key in _DETAILS:
        found = pattern.fullmatch(detail)
        if found:
            values = found.groupdict()
            if "kind" in values:
                values["kind"] = t(f"click.kind.{values['kind'].split()[0]}", lang)  # "int range" is an int
            return t(key, lang, **values)
    return detail


_DETAILS = [
    (re.compile(r"(?P<value>.+?) is not in the range (?P<range>.+?)\."), "click.not_in_range"),
    (re.compile(r"'(?P<value>.*)' is not a valid (?P<kind>int|float|boolean)(?: range)?\.?(?: Recognized values: .*)?"),
     "click.not_a_kind"),
    (re.compile(r"'?(?P<value>.*?)'? is not one of (?P<choices>.+?)\."), "click.not_one_of"),
    (re.compile(r"(?:File|Path|Directory) '(?P<path>.*)' does not exist\."), "click.path_missing"),
]

_Rule = Tuple["re.Pattern[str]", Callable[[re.Match, str], str]]
_RULES: List[_Rule] = [
    (re.compile(r"No such command '(?P<name>.*)'\.(?: Did you mean (?P<suggestions>.+)\?)?"),
     lambda m, lang: t("click.no_such_command", lang, name=m["name"]) + _suggestion(m["suggestions"], lang)),
    (re.compile(r"No such option: (?P<name>\S+)(?: Did you mean (?P<suggestions>\S+)\?)?"
                r"(?: \(Possible options: (?P<options>.+)\))?"),
     lambda m, lang: t("click.no_such_option", lang, name=m["name"]) + _suggestion(m["suggestions"], lang)
     + (t("click.possible_options", lang, options=_join(m["options"].split(", "), lang)) if m["options"] else "")),
    (re.compile(r"Missing (?P<kind>argument|option|parameter):? '?(?P<name>[^'.]*)'?\.?(?P<rest>.*)"),
     lambda m, lang: t(f"click.missing_{m['kind']}", lang, name=m["name"]) + m["rest"]),
    (re.compile(r"Invalid value for (?P<param>.+?): (?P<detail>.*)", re.S),
     lambda m, lang: t("click.invalid_value", lang, param=_join(_names(m["param"]), lang),
                       detail=_detail(m["detail"], lang))),
    (re.compile(r"Option '(?P<name>.+)' requires (?:an argument|(?P<count>\d+) arguments)\."),
     lambda m, lang: t("click.requires_argument", lang, name=m["name"])),
    (re.compile(r"Option '(?P<name>.+)' does not take a value\."),
     lambda m, lang: t("click.no_value", lang, name=m["name"])),
    (re.compile(r"Got unexpected extra argument(?:s|\(s\))? \((?P<args>.*)\)"),
     lambda m, lang: t("click.extra_arguments", lang, args=m["args"])),
    (re.compile(r"Missing command\."), lambda m, lang: t("click.missing_command", lang)),
]


def translate(message: str, lang: str) -> str:
    """typer's English `message` in `lang` (unchanged when no rule knows it)."""
    for pattern, render in _RULES:
        found = pattern.fullmatch(message.strip())
        if found:
            return render(found, lang)
    return message
