"""The result channel between the sandboxed worker and the grader: its wire format, and a decoder that
treats every byte as hostile input (the submission runs in the worker's process and can write to the pipe).

Standard library only: the worker imports it before anything else.

A frame is one kind byte, a big-endian u32 length and the payload. Every payload is JSON except a case
result (`R`), which is a u32 JSON length, the JSON meta and then the raw bytes of the arrays it lists:

    S  case start      {"exercise", "case"}
    R  case result     {"exercise", "case", "elapsed", "error", "outputs": [{"name", "dtype", "shape"}],
                        "bad_outputs": {name: "type:<what it was>" | "size:<elements>"}, "returned": [names] | null,
                        "replaced": [input paths the call replaced in the dicts it was given]} + array bytes
    M  missing         {"exercise", "missing": [function names]}
    E  import failed   {"kind": "import" | "syntax", "error"}
    X  blocked call    {"event", "where"}: the submission tried to start a process, signal one, or reach
                       outside its sandbox; the worker's guard refused (see worker.py)
    P  speed           {"exercise", "submission", "reference", "rounds", "shapes"} | {"exercise", "skipped"},
                       optional "peak_bytes": {"submission", "reference"}
    D  done            {}

`Decoder.feed()` checks each frame's schema, the order (S then R of the same case, each case once, M and P
at most once per exercise, E before any case, nothing after D) and the array headers (dtype allow-list,
ndim, element count, byte count) before any array is built; anything else raises ChannelError.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

HEADER = struct.Struct(">cI")
META_LENGTH = struct.Struct(">I")
KINDS = b"SRMEXPD"
MAX_FRAME_BYTES = 64 * 1024 * 1024  # one frame; the sandbox also caps the whole run (RESULT_BUDGET)
MAX_FRAMES = 4096  # far more than any exercise's cases; millions of tiny frames are an attack
MAX_BLOCKED = 20  # blocked-call reports kept (more are counted, not kept)
MAX_ELEMENTS = 4_000_000  # per returned array (32 MB of float64); larger ones are described, not sent
MAX_NDIM = 8
MAX_TEXT = 4000  # characters kept of any text field (exception messages, tracebacks)
DTYPES = frozenset({"<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"})


class ChannelError(Exception):
    """The channel carried something the worker never sends."""


# --- the worker's side: encoding ----------------------------------------------------------------------


def frame(kind: bytes, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def json_frame(kind: bytes, obj: dict) -> bytes:
    return frame(kind, json.dumps(obj, allow_nan=True).encode())


def result_frame(meta: dict, arrays: List[Tuple[str, Any]]) -> bytes:
    """A case result: `meta` plus the arrays (numpy arrays of an allowed dtype, C order) as raw bytes."""
    described, blobs = [], []
    for name, array in arrays:
        data = array.tobytes()
        described.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape)})
        blobs.append(data)
    head = json.dumps({**meta, "outputs": described}, allow_nan=True).encode()
    return frame(b"R", META_LENGTH.pack(len(head)) + head + b"".join(blobs))


# --- the grader's side: decoding ----------------------------------------------------------------------


@dataclass
class ArrayData:
    """A returned array as it came over the channel; `array()` builds it (a copy, never a view of the buffer)."""

    name: str
    dtype: str
    shape: Tuple[int, ...]
    data: bytes

    def array(self):
        import numpy as np

        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape).copy()


@dataclass
class CaseResultFrame:
    exercise: str
    case: str
    elapsed: Optional[float]
    error: Optional[dict]
    outputs: Dict[str, ArrayData]
    bad_outputs: Dict[str, str]
    returned: Optional[List[str]]
    replaced: List[str] = field(default_factory=list)


@dataclass
class Messages:
    """Everything decoded so far, by meaning."""

    results: Dict[Tuple[str, str], CaseResultFrame] = field(default_factory=dict)
    running: Optional[Tuple[str, str]] = None  # a case started and not finished
    missing: Dict[str, List[str]] = field(default_factory=dict)
    perf: Dict[str, dict] = field(default_factory=dict)
    fatal: Optional[dict] = None
    blocked: List[dict] = field(default_factory=list)
    blocked_count: int = 0
    done: bool = False


class Decoder:
    """Incremental, validating decoder: `feed(chunk)` as bytes arrive; raises ChannelError at the first
    thing the worker would never send, after which the channel is not read any more."""

    def __init__(self):
        self.buffer = bytearray()
        self.frames = 0
        self.messages = Messages()
        self._started_cases = False
        self._exercises_with_perf: set = set()

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        while len(self.buffer) >= HEADER.size:
            kind, length = HEADER.unpack_from(self.buffer)
            if kind not in KINDS or length > MAX_FRAME_BYTES:
                raise ChannelError(f"unknown frame {kind!r} of {length} bytes")
            end = HEADER.size + length
            if len(self.buffer) < end:
                return
            payload = bytes(self.buffer[HEADER.size:end])
            del self.buffer[:end]
            self.frames += 1
            if self.frames > MAX_FRAMES:
                raise ChannelError(f"more than {MAX_FRAMES} frames")
            self._take(kind, payload)

    def finish(self) -> Messages:
        """The messages, once the pipe is closed; a partial frame left over means the stream was cut."""
        if self.buffer and self.messages.done:
            raise ChannelError("bytes after the last frame")
        return self.messages

    # --- one frame ------------------------------------------------------------------------------

    def _take(self, kind: bytes, payload: bytes) -> None:
        m = self.messages
        if m.done:
            raise ChannelError("a frame after the end")
        if kind == b"R":
            self._result(payload)
            return
        obj = _json_object(payload)
        if kind == b"S":
            key = (_text(obj, "exercise"), _text(obj, "case"))
            if m.running is not None or key in m.results or m.fatal is not None:
                raise ChannelError("case start out of order")
            m.running, self._started_cases = key, True
        elif kind == b"M":
            exercise = _text(obj, "exercise")
            missing = obj.get("missing")
            if exercise in m.missing or not isinstance(missing, list) or not all(isinstance(x, str) for x in missing):
                raise ChannelError("bad missing-functions frame")
            m.missing[exercise] = [name[:200] for name in missing[:50]]
        elif kind == b"E":
            if m.fatal is not None or self._started_cases:
                raise ChannelError("import error reported twice or after a case")
            kind_name = obj.get("kind")
            if kind_name not in ("import", "syntax"):
                raise ChannelError("bad import-error frame")
            m.fatal = {"kind": kind_name, "error": error_info(obj.get("error"))}
        elif kind == b"X":
            m.blocked_count += 1
            if len(m.blocked) < MAX_BLOCKED:
                m.blocked.append({"event": _text(obj, "event")[:200], "where": _text(obj, "where", "")[-MAX_TEXT:]})
        elif kind == b"P":
            exercise = _text(obj, "exercise")
            if exercise in self._exercises_with_perf or m.running is not None:
                raise ChannelError("speed reported twice")
            self._exercises_with_perf.add(exercise)
            m.perf[exercise] = _perf(obj)
        elif kind == b"D":
            if m.running is not None:
                raise ChannelError("done while a case was running")
            m.done = True

    def _result(self, payload: bytes) -> None:
        m = self.messages
        if len(payload) < META_LENGTH.size:
            raise ChannelError("short result frame")
        (head_length,) = META_LENGTH.unpack_from(payload)
        if head_length > len(payload) - META_LENGTH.size:
            raise ChannelError("result meta longer than its frame")
        meta = _json_object(payload[META_LENGTH.size:META_LENGTH.size + head_length])
        data = memoryview(payload)[META_LENGTH.size + head_length:]
        key = (_text(meta, "exercise"), _text(meta, "case"))
        if m.running != key:
            raise ChannelError("case result without its start")
        outputs: Dict[str, ArrayData] = {}
        offset = 0
        described = meta.get("outputs")
        if not isinstance(described, list) or len(described) > 64:
            raise ChannelError("bad outputs list")
        for item in described:
            if not isinstance(item, dict):
                raise ChannelError("bad output header")
            name, dtype, shape = _text(item, "name")[:200], item.get("dtype"), item.get("shape")
            if dtype not in DTYPES or name in outputs:
                raise ChannelError(f"output {name!r}: dtype {dtype!r} is not allowed")
            if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                    or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_ELEMENTS for n in shape)):
                raise ChannelError(f"output {name!r}: bad shape")
            count = 1
            for n in shape:
                count *= n
            if count > MAX_ELEMENTS:
                raise ChannelError(f"output {name!r}: {count} elements")
            size = count * int(dtype[2:]) if dtype[1] != "b" else count
            if offset + size > len(data):
                raise ChannelError(f"output {name!r}: fewer bytes than its header says")
            outputs[name] = ArrayData(name, dtype, tuple(shape), bytes(data[offset:offset + size]))
            offset += size
        if offset != len(data):
            raise ChannelError("result frame has bytes no header accounts for")
        bad = meta.get("bad_outputs", {})
        returned = meta.get("returned")
        replaced = meta.get("replaced", [])
        elapsed = meta.get("elapsed")
        if (not isinstance(bad, dict) or not all(isinstance(v, str) for v in bad.values())
                or (returned is not None and (not isinstance(returned, list) or not all(isinstance(x, str) for x in returned)))
                or (elapsed is not None and (not isinstance(elapsed, (int, float)) or isinstance(elapsed, bool)))
                or not isinstance(replaced, list) or not all(isinstance(x, str) for x in replaced)):
            raise ChannelError("bad result meta")
        error = meta.get("error")
        m.results[key] = CaseResultFrame(
            exercise=key[0], case=key[1], elapsed=elapsed, error=None if error is None else error_info(error),
            outputs=outputs, bad_outputs={str(k)[:200]: v[:200] for k, v in list(bad.items())[:64]},
            returned=None if returned is None else [name[:200] for name in returned[:64]],
            replaced=[path[:200] for path in replaced[:64]])
        m.running = None


def error_info(value: Any) -> dict:
    """An exception as the worker describes it, every field checked and bounded."""
    if not isinstance(value, dict):
        raise ChannelError("bad error description")
    line = value.get("line")
    offset = value.get("offset")
    return {
        "type": _text(value, "type")[:100] or "Exception",
        "message": _text(value, "message", "")[:MAX_TEXT],
        "traceback": _text(value, "traceback", "")[-MAX_TEXT:],
        "line": line if isinstance(line, int) and not isinstance(line, bool) else None,
        "offset": offset if isinstance(offset, int) and not isinstance(offset, bool) else None,
        "text": _text(value, "text", "")[:300] or None,
        "input_modified": value.get("input_modified") is True,
    }


def _perf(obj: dict) -> dict:
    if "skipped" in obj:
        perf = {"skipped": _text(obj, "skipped")[:40], "seconds": _number(obj.get("seconds"))}
    else:
        perf = {"submission": _number(obj.get("submission")), "reference": _number(obj.get("reference")),
                "rounds": obj.get("rounds") if isinstance(obj.get("rounds"), int) else 0,
                "shapes": _text(obj, "shapes", "")[:200]}
        if perf["submission"] is None or perf["reference"] is None:
            raise ChannelError("bad speed frame")
    peak = obj.get("peak_bytes")
    if isinstance(peak, dict):
        perf["peak_bytes"] = {side: _number(peak.get(side)) for side in ("submission", "reference")}
    return perf


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0 or value == float("inf"):
        return None
    return float(value)


def _json_object(payload: bytes) -> dict:
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        raise ChannelError("payload is not JSON") from None
    if not isinstance(obj, dict):
        raise ChannelError("payload is not a JSON object")
    return obj


def _text(obj: dict, key: str, default: Optional[str] = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise ChannelError(f"field {key!r} is not text")
    return value
