"""One-line explanations of the runtime errors attention code hits most, next to the traceback.

Each rule reads the exception's type and message only; it explains when the message says enough to be sure
(a broadcasting error between a 3-D and a 4-D array whose last two axes agree is a mask without a head
axis), and otherwise says nothing rather than guess.
"""

from __future__ import annotations

import re
from typing import Optional

from mhaquiz.grader.report import Message

_SHAPE = r"\(([\d, ]*)\)"
_BROADCAST = re.compile(
    rf"operands could not be broadcast together with (?:remapped )?shapes (?:\[original->remapped\]: )?{_SHAPE} {_SHAPE}")
_RESHAPE = re.compile(rf"cannot reshape array of size (\d+) into shape {_SHAPE}")
_MATMUL = re.compile(r"matmul: Input operand 1 has a mismatch in its core dimension 0.*\(size (\d+) is different from (\d+)\)")
_AXIS = re.compile(r"axis (-?\d+) is out of bounds for array of dimension (\d+)")


def _shape(text: str) -> tuple:
    return tuple(int(part) for part in text.replace(" ", "").split(",") if part)


def explain(error: dict) -> Optional[Message]:
    """A one-line explanation for the exception `error` (channel.error_info), or None."""
    kind, message = error.get("type", ""), error.get("message", "")
    if error.get("input_modified"):
        return Message("explain.input_modified")
    if kind == "NotImplementedError":
        return Message("explain.not_implemented")
    if kind == "MemoryError":
        return Message("explain.memory")
    found = _BROADCAST.search(message)
    if found:
        first, second = _shape(found.group(1)), _shape(found.group(2))
        low, high = sorted((first, second), key=len)
        if len(low) == 3 and len(high) == 4 and (low[-2:] == high[-2:] or low[-1] == high[-1] and low[-2] == 1):
            return Message("explain.mask_head_axis", {"mask": str(low), "scores": str(high)})
        return Message("explain.broadcast", {"first": str(first), "second": str(second)})
    found = _RESHAPE.search(message)
    if found:
        shape = _shape(found.group(2))
        key = "explain.reshape_heads" if len(shape) == 4 else "explain.reshape"
        return Message(key, {"size": int(found.group(1)), "shape": str(shape)})
    found = _MATMUL.search(message)
    if found:
        return Message("explain.matmul", {"left": int(found.group(2)), "right": int(found.group(1))})
    found = _AXIS.search(message)
    if found:
        return Message("explain.axis", {"axis": int(found.group(1)), "ndim": int(found.group(2))})
    if kind == "KeyError" and re.fullmatch(r"'[Wb]_?[qkvo]'|'[Wb][qkvo]'|'(W|b)_?(Q|K|V|O)'", message.strip()):
        return Message("explain.params_key", {"key": message.strip()})
    if kind in ("TypeError", "AttributeError") and "NoneType" in message:
        return Message("explain.none")
    found = re.fullmatch(r"name '(\w+)' is not defined", message.strip())
    if kind == "NameError" and found:
        return Message("explain.name", {"name": found.group(1)})
    return None
