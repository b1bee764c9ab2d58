"""The result channel between the sandboxed worker and the grader: its wire format, and a decoder that
treats every byte as hostile input (the submission runs in the worker's process and can write to the pipe).

Standard library only: the worker imports it before anything else.

A frame is one kind byte, a big-endian u32 length and the payload. Every payload is JSON except a case
result (`R`), which is a u32 JSON length, the JSON meta and then the raw bytes of the arrays it lists:

    S  case start      {"exercise", "case"}
    R  case result     {"exercise", "case", "error", "outputs": [{"name", "dtype", "shape"}],
                        "bad_outputs": {name: "type:<what it was>" | "size:<elements>"}, "returned": [names] | null,
                        "replaced": [input paths the call replaced in the dicts it was given]} + array bytes
    M  missing         {"exercise", "missing": [function names]}
    E  import failed   {"kind": "import" | "syntax", "error"}
    X  blocked call    {"event", "where"}: the submission tried to start a process, signal one, or reach
                       outside its sandbox; the worker's guard refused (see worker.py)
    D  done            {}: the cases runner called every case

After D, each measuring runner may send S and R for its exercise's "memory" or "speed" case (what its last
call returned, checked by the grader like any case; at most MAX_MEASURED per case).

`Decoder.feed()` checks each frame's schema against the contract (the exercises, their functions and cases
the grader asked for; output names are plain identifiers), the order (S then R of the same case, each case
once, M at most once per exercise, E before any case, only measured cases after D) and the array headers
(dtype allow-list, ndim, element count, byte count) before any array is built; anything else raises
ChannelError. Every text field (exception messages, tracebacks, blocked calls) is made safe for a terminal
here, once (`safe_text`), before anything renders it. The grader notes when each S and R frame arrived: a
case's time is what the grader saw, not what the worker says.

The control pipe is the warden's (worker.py): JSON lines no runner can write (`ControlDecoder`).
"""

from __future__ import annotations

import json
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

HEADER = struct.Struct(">cI")
META_LENGTH = struct.Struct(">I")
KINDS = b"SRMEXD"
MAX_FRAME_BYTES = 64 * 1024 * 1024  # one frame; the sandbox also caps the whole run (RESULT_BUDGET)
MAX_FRAMES = 4096  # far more than any exercise's cases; millions of tiny frames are an attack
MAX_BLOCKED = 20  # blocked-call reports kept (more are counted, not kept)
MAX_ELEMENTS = 4_000_000  # per returned array (32 MB of float64); larger ones are described, not sent
MAX_NDIM = 8
MAX_TEXT = 4000  # characters kept of any text field (exception messages, tracebacks)
MAX_MEASURED = 8  # measuring runners' results per measured case (the timing grows its calls 8x at a time)
MEASURED_CASES = ("memory", "speed")  # the cases measuring runners report after D (memory_case, perf_case)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")  # an output name as the contracts write them
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
DTYPES = frozenset({"<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"})


class ChannelError(Exception):
    """The channel carried something the worker never sends."""


def plain_name(name: str) -> bool:
    """An output name the channel carries: a plain identifier (dots for nested keys), at most 64 characters."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None


def safe_text(text: str) -> str:
    """Text from the worker with control characters, escape sequences and bidirectional overrides made visible
    (ESC becomes \\x1b): printed, it reads as what it is and does nothing to the terminal."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}" if ord(match.group()) < 0x100
                        else f"\\u{ord(match.group()):04x}", text)


@dataclass(frozen=True)
class Contract:
    """What the grader asked for: per exercise, its functions and the names of its cases."""

    functions: Dict[str, Tuple[str, ...]]
    cases: Dict[str, Tuple[str, ...]]

    def knows(self, exercise: str, case: str, measured: bool = False) -> bool:
        if exercise not in self.cases:
            return False
        return case in MEASURED_CASES if measured else case in self.cases[exercise]


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
    elapsed: Optional[float]  # seconds between its S and R frames, as the grader saw them arrive
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
    measured: Dict[Tuple[str, str], List[CaseResultFrame]] = field(default_factory=dict)  # (exercise, "memory" | "speed")
    fatal: Optional[dict] = None
    blocked: List[dict] = field(default_factory=list)
    blocked_count: int = 0
    done: bool = False


class Decoder:
    """Incremental, validating decoder: `feed(chunk)` as bytes arrive; raises ChannelError at the first
    thing the worker would never send, after which the channel is not read any more."""

    def __init__(self, contract: Optional[Contract] = None, clock=time.monotonic):
        self.buffer = bytearray()
        self.frames = 0
        self.messages = Messages()
        self.contract = contract
        self.clock = clock
        self._started_cases = False
        self._started_at = 0.0

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
        if m.done and kind not in b"SRX":
            raise ChannelError("a frame after the end")
        if kind == b"R":
            self._result(payload)
            return
        obj = _json_object(payload)
        if kind == b"S":
            key = (_text(obj, "exercise"), _text(obj, "case"))
            if not self._known(key):
                raise ChannelError("a case the grader did not ask for")
            if (m.running is not None or key in m.results or len(m.measured.get(key, ())) >= MAX_MEASURED
                    or m.fatal is not None):
                raise ChannelError("case start out of order")
            m.running, self._started_cases, self._started_at = key, True, self.clock()
        elif kind == b"M":
            exercise = _text(obj, "exercise")
            missing = obj.get("missing")
            if exercise in m.missing or not isinstance(missing, list) or not all(isinstance(x, str) for x in missing):
                raise ChannelError("bad missing-functions frame")
            if self.contract is not None and (exercise not in self.contract.functions or not missing
                                              or not set(missing) <= set(self.contract.functions[exercise])):
                raise ChannelError("missing functions the exercise does not have")
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
                m.blocked.append({"event": safe_text(_text(obj, "event")[:200]),
                                  "where": safe_text(_text(obj, "where", "")[-MAX_TEXT:])})
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
        elapsed = self.clock() - self._started_at
        outputs: Dict[str, ArrayData] = {}
        offset = 0
        described = meta.get("outputs")
        if not isinstance(described, list) or len(described) > 64:
            raise ChannelError("bad outputs list")
        for item in described:
            if not isinstance(item, dict):
                raise ChannelError("bad output header")
            name, dtype, shape = _text(item, "name"), item.get("dtype"), item.get("shape")
            if not plain_name(name):
                raise ChannelError("an output name that is not a plain identifier")
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
        if (not isinstance(bad, dict) or not all(plain_name(k) and isinstance(v, str) for k, v in bad.items())
                or (returned is not None and (not isinstance(returned, list) or not all(plain_name(x) for x in returned)))
                or not isinstance(replaced, list) or not all(plain_name(x) for x in replaced)):
            raise ChannelError("bad result meta")
        error = meta.get("error")
        frame = CaseResultFrame(
            exercise=key[0], case=key[1], elapsed=elapsed, error=None if error is None else error_info(error),
            outputs=outputs, bad_outputs={k: safe_text(v[:200]) for k, v in list(bad.items())[:64]},
            returned=None if returned is None else returned[:64], replaced=replaced[:64])
        if m.done:  # one frame per measuring runner (the timing may take several)
            m.measured.setdefault(key, []).append(frame)
        else:
            m.results[key] = frame
        m.running = None

    def _known(self, key: Tuple[str, str]) -> bool:
        """A case of the contract (before D) or a measured case of one of its exercises (after D)."""
        if self.contract is None:
            return (key[1] in MEASURED_CASES) == self.messages.done
        return self.contract.knows(*key, measured=self.messages.done)


def error_info(value: Any) -> dict:
    """An exception as the worker describes it, every field checked and bounded."""
    if not isinstance(value, dict):
        raise ChannelError("bad error description")
    line = value.get("line")
    offset = value.get("offset")
    return {
        "type": safe_text(_text(value, "type")[:100]) or "Exception",
        "message": safe_text(_text(value, "message", "")[:MAX_TEXT]),
        "traceback": safe_text(_text(value, "traceback", "")[-MAX_TEXT:]),
        "line": line if isinstance(line, int) and not isinstance(line, bool) else None,
        "offset": offset if isinstance(offset, int) and not isinstance(offset, bool) else None,
        "text": safe_text(_text(value, "text", "")[:300]) or None,
        "input_modified": value.get("input_modified") is True,
    }


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


class ControlDecoder:
    """The warden's JSON lines (worker.py): the kernel's account of each runner, as the warden read it with
    wait4. Runners never hold this pipe; still, every line is checked and bounded."""

    MAX_BYTES = 64 * 1024

    def __init__(self):
        self.buffer = b""
        self.cases: Optional[dict] = None  # the cases runner's fate: {"code" | "signal", "cpu", "maxrss"}
        self.memory: Dict[str, dict] = {}  # exercise -> {"peak_bytes", "code" | "signal", ...}
        self.perf: Dict[str, dict] = {}  # exercise -> {"seconds", "rounds"} | {"skipped", ...}
        self.done = False
        self.ready: Optional[float] = None  # when the warden was ready (time.monotonic(), the same clock here)

    def feed(self, chunk: bytes) -> List[str]:
        """Take bytes; returns the kinds of the lines completed ("ready", "cases", "memory", "perf", "done")."""
        self.buffer += chunk
        if len(self.buffer) > self.MAX_BYTES:
            raise ChannelError("the control pipe carried too much")
        kinds = []
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            obj = _json_object(line)
            kind = obj.get("kind")
            fate = {key: obj[key] for key in ("code", "signal") if isinstance(obj.get(key), int)}
            numbers = {key: _number(obj.get(key)) for key in ("cpu", "maxrss", "peak_bytes", "seconds", "at")
                       if _number(obj.get(key)) is not None}
            if kind == "ready" and self.ready is None:
                self.ready = _number(obj.get("at")) or 0.0
            elif kind == "cases" and self.cases is None:
                self.cases = {**fate, **numbers}
            elif kind in ("memory", "perf") and isinstance(obj.get("exercise"), str):
                entry = {**fate, **numbers}
                if isinstance(obj.get("rounds"), int):
                    entry["rounds"] = obj["rounds"]
                if isinstance(obj.get("skipped"), str):
                    entry["skipped"] = obj["skipped"][:40]
                (self.memory if kind == "memory" else self.perf)[obj["exercise"]] = entry
            elif kind == "done":
                self.done = True
            else:
                raise ChannelError(f"unexpected control line {kind!r}")
            kinds.append(kind)
        return kinds
