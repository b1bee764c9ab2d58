"""A warm warden between grades (`watch`): each grade gets a fresh runner and folder, nothing one grade does
reaches the next, and anything but a clean grade replaces the warden. In both sandboxes."""

import time

import pytest

from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.sandbox import WarmPool
from mhaquiz.grader.verdict import Verdict
from tests.helpers import reference_source, write
from tests.test_grade_hostile import BWRAP, MODES, leftovers

CORRECT = reference_source("softmax")

PLANTS = '''import os
open("planted.py", "w").write("LEAK = True")  # in its own folder: allowed in both sandboxes
''' + CORRECT

PLANTS_IN_TMP = '''import os
for n in range(1, 6):  # under bubblewrap /tmp is its own tmpfs, writable: the next jobs' folders, made in advance
    os.makedirs(f"/tmp/work/job-{n}", exist_ok=True)
    open(f"/tmp/work/job-{n}/planted.py", "w").write("LEAK = True")
''' + CORRECT

CHECKS_FOR_THE_PLANT = '''import numpy as np
try:
    import planted
    LEAKED = True
except ImportError:
    LEAKED = False

def softmax(x, axis=-1):
    if LEAKED:
        return np.zeros_like(x)  # what an earlier grade left behind changes this one: it must not
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
'''

LOOPS = "def softmax(x, axis=-1):\n    while True:\n        pass\n"


def grade(pool, tmp_path, source, mode, name="softmax.py", **options):
    folder = tmp_path / f"try-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    return grade_file(write(folder, name, source), exercise_ids=["softmax"], sandbox=mode, pool=pool, **options)


@pytest.mark.parametrize("mode", MODES)
def test_a_clean_grade_keeps_the_warden_for_the_next(tmp_path, mode):
    with WarmPool() as pool:
        first = grade(pool, tmp_path, CORRECT, mode)
        second = grade(pool, tmp_path, CORRECT, mode)
        wrong = grade(pool, tmp_path, CORRECT.replace("x.max(axis=axis, keepdims=True)", "0"), mode)
        third = grade(pool, tmp_path, CORRECT, mode)
    assert first.verdict == second.verdict == third.verdict == Verdict.PASSED
    assert wrong.verdict == Verdict.WRONG_ANSWER  # a wrong answer is a clean grade: the warden stays
    assert (first.sandbox.get("warm"), second.sandbox.get("warm"), wrong.sandbox.get("warm"),
            third.sandbox.get("warm")) == (False, True, True, True)
    assert no_leftovers()


@pytest.mark.parametrize("mode", MODES)
def test_nothing_a_grade_leaves_in_its_folder_reaches_the_next(tmp_path, mode):
    with WarmPool() as pool:
        planted = grade(pool, tmp_path, PLANTS, mode)
        after = grade(pool, tmp_path, CHECKS_FOR_THE_PLANT, mode)
    assert planted.verdict == Verdict.PASSED  # writing into its own folder is allowed
    assert after.verdict == Verdict.PASSED and after.sandbox.get("warm") is True, after.detail and after.detail.text("en")


@pytest.mark.skipif(not BWRAP, reason="bubblewrap is not usable here (CI requires it: MHAQUIZ_REQUIRE_BWRAP)")
def test_nothing_a_grade_leaves_in_the_tmpfs_reaches_the_next(tmp_path):
    with WarmPool() as pool:
        planted = grade(pool, tmp_path, PLANTS_IN_TMP, "bwrap")
        after = grade(pool, tmp_path, CHECKS_FOR_THE_PLANT, "bwrap")
    assert planted.verdict == Verdict.PASSED
    assert after.verdict == Verdict.PASSED and after.sandbox.get("warm") is True, after.detail and after.detail.text("en")


def no_leftovers() -> bool:
    """No process of ours left, allowing a killed sandbox the moment it takes to go."""
    deadline = time.monotonic() + 2
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    return leftovers() == []


@pytest.mark.parametrize("mode", MODES)
def test_a_grade_that_hits_a_limit_replaces_the_warden(tmp_path, mode):
    with WarmPool() as pool:
        grade(pool, tmp_path, CORRECT, mode)
        looped = grade(pool, tmp_path, LOOPS, mode, timeout=1.0)
        after = grade(pool, tmp_path, CORRECT, mode)
    assert looped.verdict == Verdict.TIME_LIMIT
    assert after.verdict == Verdict.PASSED and after.sandbox.get("warm") is False  # a new warden
    assert no_leftovers()


SIGNALS_THE_WARDEN = '''import os, signal
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
''' + CORRECT


@pytest.mark.parametrize("mode", MODES)
def test_a_runner_cannot_reach_its_warden_and_a_refused_grade_replaces_it(tmp_path, mode):
    with WarmPool() as pool:
        grade(pool, tmp_path, CORRECT, mode)
        hostile = grade(pool, tmp_path, SIGNALS_THE_WARDEN, mode)
        after = grade(pool, tmp_path, CORRECT, mode)
    assert hostile.verdict == Verdict.FORBIDDEN_OPERATION
    assert after.verdict == Verdict.PASSED and after.sandbox.get("warm") is False


@pytest.mark.parametrize("mode", MODES)
def test_a_warm_torch_warden_grades_the_torch_track(tmp_path, mode):
    pytest.importorskip("torch")
    from mhaquiz.paths import content_dir

    source = (content_dir("solutions") / "torch" / "softmax.py").read_text(encoding="utf-8")
    with WarmPool() as pool:
        reports = [grade(pool, tmp_path, source, mode, timeout=10) for _ in range(2)]
    assert [r.verdict for r in reports] == [Verdict.PASSED] * 2 and reports[1].sandbox.get("warm") is True
    assert {r.track for r in reports} == {"torch"}
