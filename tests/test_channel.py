"""The result channel is parsed as hostile input: anything the worker would never send is a ChannelError,
never a traceback, a replaced result or an unbounded allocation."""

import json
import struct

import numpy as np
import pytest

from mhaquiz.grader import channel
from mhaquiz.grader.channel import ChannelError, Decoder


def start(exercise="mha_forward", case="c1"):
    return channel.json_frame(b"S", {"exercise": exercise, "case": case})


def result(exercise="mha_forward", case="c1", arrays=(("out", np.arange(6.0).reshape(2, 3)),), **meta):
    base = {"exercise": exercise, "case": case, "error": None, "elapsed": 0.01, "bad_outputs": {}, "returned": ["out"]}
    return channel.result_frame({**base, **meta}, list(arrays))


def done():
    return channel.json_frame(b"D", {})


def decode(*frames):
    decoder = Decoder()
    for frame in frames:
        decoder.feed(frame)
    return decoder.finish()


def raw_result(meta: dict, data: bytes = b"") -> bytes:
    head = json.dumps(meta).encode()
    return channel.frame(b"R", channel.META_LENGTH.pack(len(head)) + head + data)


def test_a_well_formed_run_decodes_to_arrays_equal_to_what_was_sent():
    sent = np.random.default_rng(0).standard_normal((2, 3, 4))
    messages = decode(start(), result(arrays=[("out", sent)]), done())
    got = messages.results[("mha_forward", "c1")].outputs["out"].array()
    assert got.dtype == np.float64 and np.array_equal(got, sent)
    got[0, 0, 0] = 99.0  # a copy: writable, and not a view of the channel's buffer
    assert messages.done and messages.running is None


def test_frames_split_anywhere_decode_the_same():
    stream = start() + result() + done()
    decoder = Decoder()
    for index in range(len(stream)):
        decoder.feed(stream[index:index + 1])
    assert decoder.finish().done


def test_a_case_that_started_and_never_finished_is_the_running_case():
    messages = decode(start(case="c1"), result(case="c1"), start(case="c2"))
    assert messages.running == ("mha_forward", "c2") and not messages.done


HOSTILE = {
    "unknown kind": channel.frame(b"Z", b"{}"),
    "oversized frame header": struct.pack(">cI", b"R", channel.MAX_FRAME_BYTES + 1),
    "not json": channel.frame(b"S", b"\xff\xfe"),
    "json that is not an object": channel.frame(b"S", b"[1, 2]"),
    "case name not text": channel.json_frame(b"S", {"exercise": "mha_forward", "case": 7}),
    "result without start": result(),
    "short result": channel.frame(b"R", b"\x00"),
    "meta longer than frame": channel.frame(b"R", channel.META_LENGTH.pack(10_000) + b"{}"),
    "dtype not allowed": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [
        {"name": "out", "dtype": "|O", "shape": [1]}]}, b"\x00" * 8),
    "negative shape": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [
        {"name": "out", "dtype": "<f8", "shape": [-1]}]}),
    "too many elements": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [
        {"name": "out", "dtype": "<f8", "shape": [channel.MAX_ELEMENTS, 2]}]}),
    "fewer bytes than the header says": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [
        {"name": "out", "dtype": "<f8", "shape": [4]}]}, b"\x00" * 16),
    "bytes no header accounts for": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": []}, b"\x00" * 8),
    "an output name with an escape sequence": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [
        {"name": "\x1b[2Jout", "dtype": "<f8", "shape": [1]}]}, b"\x00" * 8),
    "a returned name that is not an identifier": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [],
                                                             "returned": ["PASSED\nall good"]}),
    "a bad-output key that is not an identifier": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [],
                                                              "bad_outputs": {"\u202eout": "type:list"}}),
    "error not an object": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [], "error": "boom"}),
    "error type not text": raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [], "error": {"type": 3}}),
    "missing list not strings": channel.json_frame(b"M", {"exercise": "mha_forward", "missing": [1]}),
    "a speed frame (speed is measured by the warden, never reported by a runner)": channel.json_frame(
        b"P", {"exercise": "mha_forward", "submission": 0.001, "reference": 0.002}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_malformed_frame_is_a_channel_error(name):
    prefix = start() if name not in ("result without start", "unknown kind", "not json", "case name not text",
                                     "json that is not an object", "missing list not strings",
                                     "oversized frame header") and not name.startswith("a speed frame") else b""
    decoder = Decoder()
    with pytest.raises(ChannelError):
        decoder.feed(prefix + HOSTILE[name])


@pytest.mark.parametrize("name, frames", [
    ("a result sent twice for one case", [start(), result(), start(), result()]),
    ("two starts in a row", [start("mha_forward", "c1"), start("mha_forward", "c2")]),
    ("an import error after a case ran", [start(), result(), channel.json_frame(b"E", {"kind": "import", "error": {
        "type": "ValueError", "message": "late"}})]),
    ("a frame after done", [done(), start()]),
    ("done while a case runs", [start(), done()]),
    ("a missing-functions frame after done", [done(), channel.json_frame(b"M", {"exercise": "mha_forward",
                                                                            "missing": ["mha_forward"]})]),
    ("a measured case sent before done", [start(case="speed")]),
    ("a measured case sent more often than runners measure it",
     [done()] + [start(case="speed"), result(case="speed")] * channel.MAX_MEASURED + [start(case="speed")]),
])
def test_frames_out_of_order_are_a_channel_error(name, frames):
    decoder = Decoder()
    with pytest.raises(ChannelError):
        for frame in frames:
            decoder.feed(frame)


def test_millions_of_tiny_frames_stop_at_the_frame_budget():
    decoder = Decoder()
    blocked = channel.json_frame(b"X", {"event": "os.kill", "where": ""})
    with pytest.raises(ChannelError, match="frames"):
        decoder.feed(blocked * (channel.MAX_FRAMES + 1))
    assert len(decoder.messages.blocked) == channel.MAX_BLOCKED  # the reports kept are bounded too


def test_a_cut_stream_ending_inside_a_frame_after_done_is_an_error():
    decoder = Decoder()
    decoder.feed(done() + b"S\x00")
    with pytest.raises(ChannelError):
        decoder.finish()


def test_long_texts_from_the_worker_are_bounded():
    huge = "E" * 10_000_000
    messages = decode(channel.json_frame(b"E", {"kind": "import", "error": {
        "type": huge, "message": huge, "traceback": huge}}), done())
    error = messages.fatal["error"]
    assert len(error["type"]) == 100 and len(error["message"]) == channel.MAX_TEXT
    assert len(error["traceback"]) == channel.MAX_TEXT


def test_a_forged_memory_error_is_kept_as_text_only():
    """The worker's words are feedback, not facts: the error is an ordinary described exception."""
    messages = decode(start(), raw_result({"exercise": "mha_forward", "case": "c1", "outputs": [],
                                           "error": {"type": "MemoryError", "message": "forged"}}), done())
    error = messages.results[("mha_forward", "c1")].error
    assert error == {"type": "MemoryError", "message": "forged", "traceback": "", "line": None, "offset": None,
                     "text": None, "input_modified": False}


CONTRACT = channel.Contract(functions={"mha_forward": ("mha_forward",)}, cases={"mha_forward": ("c1", "c2")})


def contract_decode(*frames):
    decoder = Decoder(CONTRACT)
    for frame in frames:
        decoder.feed(frame)
    return decoder.finish()


@pytest.mark.parametrize("name, frames", [
    ("an exercise not asked for", [start(exercise="softmax")]),
    ("a case the exercise does not have", [start(case="c9")]),
    ("a function the exercise does not have, reported missing", [channel.json_frame(
        b"M", {"exercise": "mha_forward", "missing": ["\x1b]52;c;ZXZpbA==\x07"]})]),
    ("missing functions of an exercise not asked for", [channel.json_frame(b"M", {"exercise": "x", "missing": ["f"]})]),
    ("an empty missing list", [channel.json_frame(b"M", {"exercise": "mha_forward", "missing": []})]),
    ("a measured case of an exercise not asked for", [done(), start(exercise="softmax", case="speed")]),
])
def test_anything_outside_the_contract_is_a_channel_error(name, frames):
    with pytest.raises(ChannelError):
        contract_decode(*frames)


def test_the_contract_admits_its_own_cases_and_measured_cases_after_done():
    messages = contract_decode(start(case="c1"), result(case="c1"), start(case="c2"), result(case="c2"), done(),
                               start(case="memory"), result(case="memory"), start(case="speed"), result(case="speed"))
    assert set(messages.results) == {("mha_forward", "c1"), ("mha_forward", "c2")}
    assert {key: len(frames) for key, frames in messages.measured.items()} == {("mha_forward", "memory"): 1,
                                                                               ("mha_forward", "speed"): 1}


def test_every_text_from_the_worker_is_made_safe_once_in_the_decoder():
    evil = "\x1b[2J\x1b]52;c;ZXZpbA==\x07\u202eDESSAP\rPASSED"
    messages = decode(channel.json_frame(b"X", {"event": evil, "where": evil}), start(), raw_result(
        {"exercise": "mha_forward", "case": "c1", "outputs": [],
         "error": {"type": evil, "message": evil, "traceback": evil, "text": evil}}), done())
    texts = [*messages.blocked[0].values(), *(messages.results[("mha_forward", "c1")].error[key]
                                              for key in ("type", "message", "traceback", "text"))]
    for text in texts:
        assert not any(ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 or ch == "\u202e" for ch in text), repr(text)
        assert "\\x1b[2J" in text and "\\u202e" in text and "\\x0dPASSED" in text


def test_a_case_time_is_what_the_grader_saw_not_what_the_worker_says():
    ticks = iter([10.0, 10.25])
    decoder = Decoder(clock=lambda: next(ticks))
    for frame in (start(), result(elapsed=0.0001), done()):
        decoder.feed(frame)
    assert decoder.finish().results[("mha_forward", "c1")].elapsed == pytest.approx(0.25)


def test_the_control_pipe_takes_the_wardens_lines():
    control = channel.ControlDecoder()
    assert control.feed(b'{"kind": "cases", "code": 0, "cpu": 0.1, "maxrss": 3e7}\n{"kind": "perf", "exer') == ["cases"]
    assert control.feed(b'cise": "softmax", "seconds": 0.002, "rounds": 9}\n{"kind": "done"}\n') == ["perf", "done"]
    assert control.cases == {"code": 0, "cpu": 0.1, "maxrss": 3e7}
    assert control.perf == {"softmax": {"seconds": 0.002, "rounds": 9}} and control.done


@pytest.mark.parametrize("line", [b"not json\n", b'{"kind": "launch"}\n', b"[1]\n"])
def test_the_control_pipe_rejects_what_the_warden_never_writes(line):
    with pytest.raises(ChannelError):
        channel.ControlDecoder().feed(line)
