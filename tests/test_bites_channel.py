"""The result channel: an output named twice in one result is a corrupted channel (the second copy must never
silently replace the first), and a run's frames must finish."""

import numpy as np
import pytest

from mhaquiz.grader import channel
from mhaquiz.grader.channel import ChannelError, Decoder


def start(case="c1"):
    return channel.json_frame(b"S", {"exercise": "mha_forward", "case": case})


def result(arrays, case="c1"):
    meta = {"exercise": "mha_forward", "case": case, "error": None, "elapsed": 0.01, "bad_outputs": {},
            "returned": None}
    return channel.result_frame(meta, list(arrays))


def test_an_output_named_twice_in_one_result_is_a_channel_error():
    right, forged = np.zeros((2, 3)), np.ones((2, 3))
    decoder = Decoder()
    decoder.feed(start())
    with pytest.raises(ChannelError):
        decoder.feed(result([("out", right), ("out", forged)]))


def test_two_different_outputs_in_one_result_are_both_kept():
    decoder = Decoder()
    decoder.feed(start() + result([("out", np.zeros((2, 3))), ("weights", np.ones((2, 2)))]))
    decoder.feed(channel.json_frame(b"D", {}))
    frame = decoder.finish().results[("mha_forward", "c1")]
    assert sorted(frame.outputs) == ["out", "weights"]
    assert (frame.outputs["weights"].array() == 1.0).all()


@pytest.mark.parametrize("shape, accepted", [((2000, 2000), True), ((2000, 2001), False), ((4_000_001,), False)])
def test_an_array_of_more_than_four_million_elements_is_refused_even_when_its_bytes_fit_a_frame(shape, accepted):
    """Four million elements per returned array (32 MB of float64), whatever its axes; a bool array that large
    is only 4 MB of bytes, so the element count, not the frame size, is what refuses it."""
    decoder = Decoder()
    decoder.feed(start())
    frame = result([("mask", np.zeros(shape, dtype=bool))])
    if accepted:
        decoder.feed(frame)
        assert decoder.messages.results[("mha_forward", "c1")].outputs["mask"].array().shape == shape
    else:
        with pytest.raises(ChannelError):
            decoder.feed(frame)
