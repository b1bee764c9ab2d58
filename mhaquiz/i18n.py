"""Languages: the interface catalogues (one per language, in mhaquiz/locales/), bilingual content text,
and the language the locale asks for.

- `t(key, lang, **params)`: an interface string from `mhaquiz/locales/<lang>.py`.
- `Text`: content written by authors (questions, exercise titles, mistake titles, case descriptions) in zh
  and/or en, kept beside what it describes.
- `fold_cjk`: YAML folds line breaks into spaces; between two CJK characters, or after CJK punctuation,
  that space is wrong in Chinese. `join_cjk_lines` does the same for soft line breaks in Markdown prompts.
- `divide_line`: where a line breaks, Chinese between characters by the kinsoku rules (no line starts with
  ，。）, none ends with （“), Latin words, paths and shapes whole; console.py makes rich use it everywhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional

LANGUAGES = ("zh", "en")


def catalogue(lang: str) -> dict:
    """The message catalogue of `lang` (a module per language, imported on first use)."""
    if lang == "zh":
        from mhaquiz.locales.zh import MESSAGES
    else:
        from mhaquiz.locales.en import MESSAGES
    return MESSAGES


def t(key: str, lang: str, /, **values: object) -> str:
    """The interface string `key` in `lang`, with `{name}` placeholders filled from `values` (any name,
    `key` and `lang` included)."""
    text = catalogue(lang)[key]
    return text.format(**values) if values else text


def locale_language(environ: Mapping[str, str] | None = None) -> str:
    """'zh' when the locale asks for Chinese (zh_CN, zh_TW.UTF-8, ...), else 'en'.

    As gettext does for messages: the locale is the first non-empty of LC_ALL, LC_MESSAGES, LANG; unless
    it is C/POSIX, GNU's LANGUAGE priority list ("zh_CN:en") comes first, its first zh or en entry winning.
    """
    environ = os.environ if environ is None else environ
    locale = next((environ[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if environ.get(name)), "")
    if locale.split(".")[0] not in ("", "C", "POSIX"):
        for entry in environ.get("LANGUAGE", "").split(":"):
            language = _language_of(entry)
            if language:
                return language
    return _language_of(locale) or "en"


def _language_of(locale: str) -> Optional[str]:
    """'zh' or 'en' for a locale name such as zh_CN.UTF-8 or en; None for any other language."""
    code = locale.strip().lower()[:2]
    return code if code in LANGUAGES else None


def format_interval(seconds: float, lang: str) -> str:
    """A wait as a person says it: 10m, 3h, 4d, 2mo, 1.5y (分钟/小时/天/个月/年 in Chinese)."""
    minutes = seconds / 60
    if minutes < 60:
        return t("unit_minute", lang, n=max(1, round(minutes)))
    if minutes < 24 * 60:
        return t("unit_hour", lang, n=round(minutes / 60))
    days = minutes / (24 * 60)
    if days < 30:
        return t("unit_day", lang, n=round(days))
    if days < 365:
        return t("unit_month", lang, n=round(days / 30))
    return t("unit_year", lang, n=f"{days / 365:.1f}".rstrip("0").rstrip("."))


# --- content text ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Content in Chinese and/or English. Called with a language, it gives that text, or the other one
    when only the other exists (a learner's own one-language bank)."""

    zh: Optional[str] = None
    en: Optional[str] = None

    def __call__(self, lang: str) -> str:
        own = self.zh if lang == "zh" else self.en
        return own or self.en or self.zh or ""

    @property
    def languages(self) -> frozenset:
        return frozenset(lang for lang in LANGUAGES if getattr(self, lang))

    def map(self, function) -> "Text":
        """The same text with `function` applied to each language present."""
        return Text(*(None if value is None else function(value) for value in (self.zh, self.en)))


_CJK = "\u2e80-\u2fdf\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_PUNCTUATION = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"  # full-width only
_SPACE_BETWEEN_CJK = re.compile(f"(?<=[{_CJK}{_CJK_PUNCTUATION}])[ \t]+(?=[{_CJK}{_CJK_PUNCTUATION}])")
_SPACE_AFTER_CJK_PUNCTUATION = re.compile(f"(?<=[{_CJK_PUNCTUATION}])[ \t]+")
_QUOTES_AND_DASHES = "\u2018-\u201f\u2014\u2026"  # “” ‘’ — …: no space between them and Chinese either
_SPACE_BY_QUOTE = re.compile(f"(?<=[{_CJK}{_CJK_PUNCTUATION}])[ \t]+(?=[{_QUOTES_AND_DASHES}])"
                             f"|(?<=[{_QUOTES_AND_DASHES}])[ \t]+(?=[{_CJK}{_CJK_PUNCTUATION}])")
_SOFT_BREAK_AFTER_CJK = re.compile(
    rf"(?<=[{_CJK}{_CJK_PUNCTUATION}])[ \t]*\n[ \t]*(?![ \t]*(?:[-*+>|#]|\d+[.)]|```|\n))(?=[{_CJK}{_CJK_PUNCTUATION}])"
    rf"|(?<=[{_CJK_PUNCTUATION}])[ \t]*\n[ \t]*(?![ \t]*(?:[-*+>|#]|\d+[.)]|```|\n))(?=\S)")


def fold_cjk(text: str) -> str:
    """For Chinese text: remove the spaces YAML folding put between two CJK characters and after full-width
    punctuation
    ("生成新 token 时不会改变。 打分、 对所有" -> "生成新 token 时不会改变。打分、对所有"); spaces
    between Chinese and Latin text stay. Line breaks are kept."""
    return _SPACE_BY_QUOTE.sub("", _SPACE_AFTER_CJK_PUNCTUATION.sub("", _SPACE_BETWEEN_CJK.sub("", text)))


def contains_cjk(text: str) -> bool:
    return re.search(f"[{_CJK}]", text) is not None


def join_cjk_lines(markdown: str) -> str:
    """Join the soft line breaks of a Markdown text where Chinese continues on the next line (Markdown
    renders a soft break as a space, which Chinese does not have); list items, headings, tables, code
    fences and blank lines keep their breaks. Code blocks are left alone."""
    parts = re.split(r"(```.*?```)", markdown, flags=re.S)
    return "".join(part if part.startswith("```") else _SOFT_BREAK_AFTER_CJK.sub("", part) for part in parts)


# --- line breaking -----------------------------------------------------------------------------------
# rich breaks lines only at spaces, so a Chinese sentence is one long "word": lines end early, and a line
# may start with ，。）. Here a line may break between any two CJK characters and at spaces, never before
# closing punctuation nor after opening punctuation (the usual kinsoku rules); Latin words stay whole.

CLOSING = "，。、；：？！）】」』》〉〕］｝”’…%％·～,.;:?!)]}"  # never at the start of a line
OPENING = "（【「『《〈〔［｛“‘"  # never at the end of a line
_OPEN, _CLOSE = re.escape(OPENING), re.escape(CLOSING)
_UNIT = re.compile(
    rf"[{_OPEN}]*"  # opening punctuation sticks to what follows
    rf"(?:['\"]?(?:~|\.\.?)?/[^\s'\"{_CJK_PUNCTUATION}“”‘’]+['\"]?(?=[\s{_CLOSE}{_OPEN}{_CJK_PUNCTUATION}]|$)"  # a path, Chinese folder names and all, whole
    r"|\(\d+(?:, \d+)*,?\)"  # a shape: (2, 1, 5, 5)
    rf"|[{_CJK}{_CJK_PUNCTUATION}]|[^\s{_CJK}{_CJK_PUNCTUATION}{_OPEN}]+)?"  # one CJK character, or a Latin word
    rf"[{_CLOSE}]*"  # closing punctuation sticks to what precedes
    r"\s*")


def break_units(text: str) -> list:
    """The unbreakable pieces of a line, each with the spaces after it: a Latin word, one CJK character, a
    path or a shape such as (2, 1, 5, 5), each with the opening punctuation before it and the closing
    punctuation after it (Chinese closing punctuation even after a space)."""
    units, position = [], 0
    while position < len(text):
        match = _UNIT.match(text, position)
        end = match.end() if match and match.end() > position else position + 1
        if units and text[position] in CLOSING and not text[position].isascii():  # after a space ("s · dS") too
            units[-1] = (units[-1][0], end, text[units[-1][0]:end])
        else:
            units.append((position, end, text[position:end]))
        position = end
    return units


def divide_line(text: str, width: int, fold: bool = True) -> list:
    """Where to break `text` to fit `width` cells: rich's `divide_line` with CJK line breaking (a drop-in
    replacement, installed by console.install_line_breaking)."""
    from rich.cells import cell_len, chop_cells

    breaks: list = []
    offset = 0
    for start, _end, unit in break_units(text):
        length = cell_len(unit.rstrip())
        if width - offset >= length:
            offset += cell_len(unit)
        elif length > width:  # longer than any line: fold it (or crop), as rich does
            if fold:
                core = unit.rstrip()
                pieces = chop_cells(core, width)
                pieces[-1] += unit[len(core):]  # its trailing space ends the last piece, never starts a line
                if len(pieces) > 1 and pieces[-1].strip() and all(char in CLOSING or char.isspace() for char in pieces[-1]):
                    pieces[-2:] = [pieces[-2][:-1], pieces[-2][-1] + pieces[-1]]  # "，" never alone at a line's start
                for index, piece in enumerate(pieces):
                    if start:
                        breaks.append(start)
                    if index == len(pieces) - 1:
                        offset = cell_len(piece)
                    else:
                        start += len(piece)
            else:
                if start:
                    breaks.append(start)
                offset = cell_len(unit)
        elif offset and start:
            breaks.append(start)
            offset = cell_len(unit)
    return breaks
