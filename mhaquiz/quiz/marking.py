"""Putting a question to the learner and marking what they typed.

- mcq: letters in any form ("a,c", "ac", "A C", "a，c") or their numbers ("2" for b, "1,3"); marked right
  only when the set matches exactly.
- numeric: "1050624", "1,050,624", "1 050 624", "1.05e6", "1.05M", "1.05 million", "105万", "1/8", "2^20",
  with or without a unit or counter word after it ("8256个", "64 MiB", "32倍"); right when within the
  question's relative tolerance (0 = exact).
- open: not marked. The key points the answer shares enough words with (a deliberately simple overlap
  heuristic, see `key_point_coverage`) are pre-ticked; the learner ticks what they really covered (digits,
  `parse_ticks`), the ticks suggest a rating (`suggested_rating`), and the learner rates themselves.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field

from mhaquiz.quiz.bank import LANGS, Question, Text, fill_numeric

# The share of a key point's tokens an answer must contain to cover it: a Chinese paraphrase shares about
# 40% of the character bigrams, an unrelated answer stays under about 15%.
KEY_POINT_THRESHOLD = 0.35
MULTIPLIERS = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "万": 1e4, "亿": 1e8,
               "thousand": 1e3, "million": 1e6, "billion": 1e9, "千": 1e3}
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?"
_NUMBER_FORMS = (
    re.compile(rf"(?P<value>{_NUMBER})(?P<suffix>[kmbgt万亿千]?|thousand|million|billion)"),
    re.compile(rf"(?P<numerator>{_NUMBER})/(?P<denominator>{_NUMBER})"),
    re.compile(rf"(?P<base>{_NUMBER})(?:\^|\*\*)(?P<exponent>{_NUMBER})"),
)
_SEPARATORS = re.compile(r"[\s,_']")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an the of to in on at by for from with and or is are be it its this that so as each per into than "
    "then which what why how when".split()
)


@dataclass(frozen=True)
class Asked:
    """A question as put this time: text filled in, and for numeric questions the drawn params and answer."""

    question: Question
    prompt: Text
    explanation: Text | None
    params: dict = field(default_factory=dict)
    expected: float | None = None
    lang: str = "en"  # the language the question is asked in (its own, when it has only one)


def instantiate(question: Question, rng: random.Random, lang: str = "en") -> Asked:
    """Draw one value for each list parameter of a numeric question and compute its answer."""
    if question.numeric is None:
        return Asked(question, question.prompt, question.explanation, lang=lang)
    params = {
        name: rng.choice(value) if isinstance(value, tuple) else value
        for name, value in question.numeric.params.items()
    }
    prompt, explanation, expected = fill_numeric(question, params)
    return Asked(question, prompt, explanation, params, expected, lang)


def parse_choices(text: str, valid: set[str] | dict) -> frozenset[str] | None:
    """The choice letters in `text` (letters, or numbers 1..n standing for the n choices in order), or None
    when it holds anything else."""
    cleaned = re.sub(r"[\s,;/、，]", "", unicodedata.normalize("NFKC", text).lower())
    letters = list(valid)
    if cleaned.isdigit():
        if any(not 1 <= int(digit) <= len(letters) for digit in cleaned):
            return None
        cleaned = "".join(letters[int(digit) - 1] for digit in cleaned)
    if not cleaned or any(letter not in valid for letter in cleaned):
        return None
    return frozenset(cleaned)


_TRAILING_WORD = re.compile(r"(?<=[\d.])\s*(?P<word>[^\W\d_]+)$")  # "8256个", "64 MiB", "1.05 million"


def parse_number(text: str, unit: Text | None = None) -> float | None:
    """The number in `text` (forms in the module docstring), or None when it is not one."""
    cleaned = unicodedata.normalize("NFKC", text).strip().lower()
    for word in (unit.zh, unit.en) if unit else ():
        word = unicodedata.normalize("NFKC", word or "").lower().strip()
        if word and cleaned.endswith(word):
            cleaned = cleaned[: -len(word)].rstrip()
    trailing = _TRAILING_WORD.search(cleaned)
    if trailing and trailing["word"] not in MULTIPLIERS and not (len(trailing["word"]) == 1 and trailing["word"].isascii()):
        word = trailing["word"]
        # a counter or unit word (个, 倍, MiB, parameters); a multiplier stuck to it is kept: "1.05万个"
        if word[0] in MULTIPLIERS and word[1:] and not word[1:].isascii():
            cleaned = cleaned[: trailing.start("word") + 1]
        else:
            cleaned = cleaned[: trailing.start()]
    cleaned = _SEPARATORS.sub("", cleaned.lstrip("~≈"))
    plain, fraction, power = (form.fullmatch(cleaned) for form in _NUMBER_FORMS)
    try:
        if plain:
            return float(plain["value"]) * MULTIPLIERS.get(plain["suffix"], 1.0)
        if fraction:
            return float(fraction["numerator"]) / float(fraction["denominator"])
        if power:
            return float(power["base"]) ** float(power["exponent"])
    except (ZeroDivisionError, OverflowError):
        return None
    return None


# The numbers the input hint writes in each form, the one farther (in orders of magnitude) from the answer
# on screen: they are 4.5 orders apart, so the one shown is always at least 100x off the answer, never a
# plausible answer (the hint once showed 1.05M to a question whose answer was 1,050,624).
NUMERIC_EXAMPLES = (
    {"value": 1234567, "plain": "1234567", "grouped": "1,234,567", "sci": "1.23e6", "short": "1.23M"},
    {"value": 42e9, "plain": "42000000000", "grouped": "42,000,000,000", "sci": "4.2e10", "short": "42B"},
)


def numeric_example(expected: float | None) -> dict:
    """The example number for the input hint (its forms by name): the one farthest from `expected`."""
    import math

    if not expected:
        return NUMERIC_EXAMPLES[0]
    size = math.log10(abs(expected))
    return max(NUMERIC_EXAMPLES, key=lambda example: abs(math.log10(example["value"]) - size))


def number_matches(got: float, expected: float, tolerance: float) -> bool:
    """Within relative `tolerance` of `expected` (tolerance 0: exactly equal)."""
    return abs(got - expected) <= tolerance * abs(expected)


def tokens(text: str) -> set[str]:
    """Comparable pieces of `text`: English words and numbers (stop words and lone letters dropped, a plural
    -s folded) and Chinese character bigrams (Chinese has no spaces; a lone character stands for itself). Mixed text yields both."""
    text = unicodedata.normalize("NFKC", text).lower()
    pieces: set[str] = set()
    for run in _CJK_RUN.findall(text):
        pieces.update(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    for word in _WORD.findall(text):
        if word in _STOPWORDS or (len(word) == 1 and not word.isdigit()):
            continue
        pieces.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return pieces


def key_point_coverage(answer: str, key_point: Text) -> float:
    """The share of the key point's tokens found in the answer, in whichever language matches better
    (people often answer a Chinese question with English terms)."""
    said = tokens(answer)
    shares = []
    for lang in LANGS:
        wanted = tokens(key_point(lang))
        if wanted:
            shares.append(len(wanted & said) / len(wanted))
    return max(shares, default=0.0)


def parse_ticks(text: str, count: int, ticked: list[bool]) -> list[bool] | None:
    """The key points the learner says they covered: digits 1..count in any form ("13", "1,3", "1 3"; full
    width too); Enter keeps `ticked` (what the program found); "0" or "-" is none. None when unreadable."""
    cleaned = re.sub(r"[\s,;/、，]", "", unicodedata.normalize("NFKC", text))
    if not cleaned:
        return list(ticked)
    if cleaned in ("0", "-"):
        return [False] * count
    if not cleaned.isdigit() or any(not 1 <= int(digit) <= count for digit in cleaned):
        return None
    return [str(number) in cleaned for number in range(1, count + 1)]


def suggested_rating(ticked: list[bool]) -> int:
    """The rating the ticks suggest: every key point covered, Good (3); at least half, Hard (2); fewer,
    Again (1). Easy stays the learner's call."""
    share = sum(ticked) / len(ticked) if ticked else 0.0
    return 3 if share == 1 else 2 if share >= 0.5 else 1


def covered_key_points(answer: str, key_points: tuple[Text, ...]) -> list[bool]:
    """For each key point, whether the answer covers it (coverage >= KEY_POINT_THRESHOLD)."""
    return [key_point_coverage(answer, point) >= KEY_POINT_THRESHOLD for point in key_points]
