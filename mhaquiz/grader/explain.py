"""One-line explanations of the errors attention code hits most, next to the traceback.

Each rule reads the exception's type and message only, and computes its advice from the shapes and sizes the
message names: a 3-D mask against 4-D scores is told where the missing axis goes, and only when inserting it
there really broadcasts; a 2-D (Tq, Tk) mask already expanded with `mask[:, None]` is told that its problem is
the missing batch axis, not the head axis. When the message does not say enough to be sure, the rule says
what the shapes show (which axis disagrees) rather than guess why.
"""

from __future__ import annotations

import re
import unicodedata
from math import prod
from typing import Optional, Sequence

from mhaquiz.grader.report import Message

_SHAPE = r"\(([\d, ]*)\)"
_BROADCAST = re.compile(
    rf"operands could not be broadcast together with (?:remapped )?shapes (?:\[original->remapped\]: )?{_SHAPE} {_SHAPE}")
_RESHAPE = re.compile(rf"cannot reshape array of size (\d+) into shape {_SHAPE}")
_MATMUL = re.compile(r"matmul: Input operand 1 has a mismatch in its core dimension 0.*\(size (\d+) is different from (\d+)\)")
_AXIS = re.compile(r"axis (-?\d+) is out of bounds for array of dimension (\d+)")
_UNPACK_FEW = re.compile(r"not enough values to unpack \(expected (\d+), got (\d+)\)")
_UNPACK_MANY = re.compile(r"too many values to unpack \(expected (\d+)")


def _shape(text: str) -> tuple:
    return tuple(int(part) for part in text.replace(" ", "").split(",") if part)


def _show(shape: Sequence[int]) -> str:
    """A shape as NumPy prints it: (2, 1, 5, 5), (5,)."""
    return str(tuple(shape))


def broadcasts(first: Sequence[int], second: Sequence[int]) -> bool:
    """Whether NumPy broadcasts the two shapes (axes lined up from the right, sizes equal or 1)."""
    return all(a == b or a == 1 or b == 1 for a, b in zip(reversed(first), reversed(second)))


def _index_expression(position: int, count: int) -> str:
    """The indexing that inserts `count` new axes before axis `position`: mask[:, None], mask[:, :, None, None]."""
    return "mask[" + ", ".join([":"] * position + ["None"] * count) + "]"


def explain(error: dict) -> Optional[Message]:
    """A one-line explanation for the exception `error` (channel.error_info), or None."""
    kind, message = error.get("type", ""), error.get("message", "")
    if error.get("input_modified"):
        return Message("explain.input_modified")
    if kind in ("SyntaxError", "IndentationError", "TabError"):
        return explain_syntax(message)
    if kind == "NotImplementedError":
        return Message("explain.not_implemented")
    if kind == "MemoryError":
        return Message("explain.memory")
    found = _BROADCAST.search(message)
    if found:
        return _broadcast(_shape(found.group(1)), _shape(found.group(2)))
    found = _RESHAPE.search(message)
    if found:
        return _reshape(int(found.group(1)), _shape(found.group(2)))
    found = _MATMUL.search(message)
    if found:
        return Message("explain.matmul", {"left": int(found.group(2)), "right": int(found.group(1))})
    found = _AXIS.search(message)
    if found:
        return Message("explain.axis", {"axis": int(found.group(1)), "ndim": int(found.group(2)),
                                        "last": int(found.group(2)) - 1})
    found = _UNPACK_FEW.search(message)
    if found and kind == "ValueError":
        return Message("explain.unpack_few", {"expected": int(found.group(1)), "got": int(found.group(2))})
    found = _UNPACK_MANY.search(message)
    if found and kind == "ValueError":
        return Message("explain.unpack_many", {"expected": int(found.group(1))})
    if kind == "KeyError" and re.fullmatch(r"'[Wb]_?[qkvo]'|'[Wb][qkvo]'|'(W|b)_?(Q|K|V|O)'", message.strip()):
        return Message("explain.params_key", {"key": message.strip()})
    if kind in ("TypeError", "AttributeError") and "NoneType" in message:
        return Message("explain.none")
    found = re.fullmatch(r"name '(\w+)' is not defined", message.strip())
    if kind == "NameError" and found:
        return Message("explain.name", {"name": found.group(1)})
    return None


def _broadcast(first: tuple, second: tuple) -> Message:
    """Two shapes that do not broadcast: where the mask's missing axes go, computed from the shapes."""
    low, high = sorted((first, second), key=len)
    missing = len(high) - len(low)
    if missing and len(low) >= 2:
        # Where can the missing axes be inserted so that the smaller array broadcasts? (Never in front:
        # NumPy already tried that.)
        fits = [k for k in range(1, len(low)) if broadcasts(low[:k] + (1,) * missing + low[k:], high)]
        # A 2-D (Tq, Tk) mask given a head axis with mask[:, None]: (Tq, 1, Tk). Without that axis it broadcasts.
        expanded_2d = (len(low) == 3 and low[1] == 1 and broadcasts((low[0], low[2]), high)
                       and low[0] == high[-2] and low[0] != 1)
        if expanded_2d:
            return Message("explain.mask_2d_expanded", {"mask": _show(low), "scores": _show(high),
                                                        "original": _show((low[0], low[2]))})
        if fits:
            position = fits[0]
            fixed = low[:position] + (1,) * missing + low[position:]
            key = "explain.mask_head_axis" if (position, missing) == (1, 1) else "explain.mask_missing_axis"
            return Message(key, {"mask": _show(low), "scores": _show(high), "fix": _index_expression(position, missing),
                                 "fixed": _show(fixed)})
    if len(first) == len(second) == 3 and first[1:] == second[1:]:
        mask, scores = sorted((first, second))  # the mask has one entry per batch item, the scores B * H
        if mask[0] > 1 and scores[0] % mask[0] == 0:
            return Message("explain.heads_merged", {"mask": _show(mask), "scores": _show(scores), "heads": scores[0] // mask[0]})
    # Otherwise: name the first axis, from the right, where the two disagree.
    for offset, (a, b) in enumerate(zip(reversed(first), reversed(second)), start=1):
        if a != b and a != 1 and b != 1:
            return Message("explain.broadcast", {"first": _show(first), "second": _show(second),
                                                 "axis": -offset, "a": a, "b": b})
    return Message("explain.broadcast_unknown", {"first": _show(first), "second": _show(second)})


def _reshape(size: int, shape: tuple) -> Message:
    """A reshape to the wrong number of elements; for a head split (4-D target), what D and dh really are."""
    params = {"size": size, "shape": _show(shape), "target": prod(shape)}
    if len(shape) == 4 and -1 not in shape and shape[0] * shape[1] and size % (shape[0] * shape[1]) == 0:
        width, heads = size // (shape[0] * shape[1]), shape[2]
        params.update(width=width, heads=heads, dh=shape[3])
        if heads and width % heads == 0:
            return Message("explain.reshape_heads", {**params, "right": width // heads})
        return Message("explain.reshape_heads_indivisible", params)
    return Message("explain.reshape", params)


# --- errors Python finds before running anything --------------------------------------------------------

_ASCII_FOR = {"，": ",", "（": "(", "）": ")", "：": ":", "；": ";", "。": ".", "“": '"', "”": '"', "‘": "'",
              "’": "'", "【": "[", "】": "]", "　": " ", "＝": "=", "《": "<", "》": ">", "、": ","}


def explain_syntax(message: str) -> Message:
    """A plain explanation of a syntax error, an encoding problem or an indentation error."""
    if ("codec can't decode" in message or "encoding declaration" in message or "unknown encoding" in message
            or "(unicode error)" in message):
        return Message("explain.encoding")
    if "null bytes" in message:
        return Message("explain.null_bytes")
    found = re.search(r"invalid character '(.)' \(U\+([0-9A-F]+)\)", message)
    if found:
        char = found.group(1)
        ascii_char = _ASCII_FOR.get(char) or unicodedata.normalize("NFKC", char)
        if ascii_char.isascii() and ascii_char != char:
            return Message("explain.fullwidth", {"char": char, "ascii": ascii_char})
    if "non-printable character" in message:
        return Message("explain.invisible")
    if "inconsistent use of tabs" in message:
        return Message("explain.tabs")
    if "indent" in message:
        return Message("explain.indent")
    if "was never closed" in message or "does not match opening parenthesis" in message or "unmatched" in message:
        return Message("explain.brackets")
    if "unterminated" in message:
        return Message("explain.string")
    if message.startswith("expected ':'"):
        return Message("explain.colon")
    if "too deeply nested" in message:
        return Message("explain.too_deep")
    return Message("explain.syntax")
