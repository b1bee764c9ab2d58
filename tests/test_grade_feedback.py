"""Feedback beyond pass/fail: speed against the reference, Python loops, and the error heat map."""

import ast
import json

from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.grader import inputs
from mhaquiz.grader.efficiency import python_loops
from mhaquiz.grader.grade import grade_file
from tests.helpers import reference_source, with_edits, write

LOOPY = '''import numpy as np

def mha_forward(q, k, v, params, num_heads, mask=None):
    B, Tq, D = q.shape
    dh = D // num_heads
    Q = q @ params["W_q"] + params["b_q"]
    K = k @ params["W_k"] + params["b_k"]
    V = v @ params["W_v"] + params["b_v"]
    full_mask = None if mask is None else np.broadcast_to(mask, (B, Tq, K.shape[1]))
    out = np.zeros_like(Q)
    for b in range(B):
        for h in range(num_heads):
            cols = slice(h * dh, (h + 1) * dh)
            s = Q[b, :, cols] @ K[b, :, cols].T / np.sqrt(dh)
            if full_mask is not None:
                s = np.where(full_mask[b], s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            out[b, :, cols] = (s / s.sum(-1, keepdims=True)) @ V[b, :, cols]
    return out @ params["W_o"] + params["b_o"]
'''


def test_correct_submission_gets_a_speed_ratio_and_no_loop_note(tmp_path):
    report = grade_file(write(tmp_path, "mha.py", reference_source("mha_forward")))
    efficiency = report.exercises[0].efficiency
    assert report.passed
    assert efficiency.submission_seconds > 0 and efficiency.reference_seconds > 0
    assert efficiency.shapes == inputs.mha_shapes(inputs.mha_perf_args(0))  # timed on the larger case
    assert efficiency.loops == []


def test_loops_over_batch_and_heads_are_pointed_out_but_do_not_fail(tmp_path):
    result = CliRunner().invoke(app, ["grade", str(write(tmp_path, "loopy.py", LOOPY))])
    assert result.exit_code == 0, result.output
    assert "line 11: for b in range(B):" in result.output
    assert "line 12: for h in range(num_heads):" in result.output
    assert "Speed:" in result.output and "the reference's time per call" in result.output


def test_python_loops_ignores_literal_collections_and_top_level_code():
    source = (
        "for i in range(3):\n    pass\n"
        "def f(x, n):\n"
        "    for name in ('q', 'k', 'v'):\n        pass\n"
        "    while n:\n        n -= 1\n"
        "    for row in x:\n        pass\n"
    )
    assert [loop["line"] for loop in python_loops(ast.parse(source), source)] == [6, 8]


def test_heat_map_shows_where_an_ignored_causal_mask_goes_wrong(tmp_path):
    source = with_edits(reference_source("mha_forward"), ("allowed = True if mask is None else mask", "allowed = True"))
    report = grade_file(write(tmp_path, "mha.py", source))
    heatmap = report.exercises[0].heatmap
    assert heatmap.case == "causal mask" and heatmap.rows_label == "query position" and heatmap.cols_label == "head"
    assert len(heatmap.values) == 6 and len(heatmap.values[0]) == 3  # (Tq, H) of that case
    assert min(heatmap.values[0]) > 1e-3  # query 0 should see key 0 only: wrong in every head
    assert max(heatmap.values[-1]) < 1e-9  # the last query may see every key: the mask changes nothing there


def test_heat_map_and_efficiency_are_in_the_json(tmp_path):
    source = with_edits(reference_source("mha_forward"), ("allowed = True if mask is None else mask", "allowed = True if mask is None else ~mask"))
    result = CliRunner().invoke(app, ["grade", str(write(tmp_path, "mha.py", source)), "--json"])
    exercise = json.loads(result.stdout)["exercises"][0]
    assert exercise["heatmap"]["case"] == "causal mask"
    assert exercise["efficiency"] is None  # only once it is correct
    rendered = CliRunner().invoke(app, ["grade", str(write(tmp_path, "mha.py", source))]).output
    assert "Where it differs" in rendered
