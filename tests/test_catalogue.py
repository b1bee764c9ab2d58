"""Every catalogued mistake of every exercise, planted alone in the reference, fails and is named as itself;
no other mistake explains the same failures (the cases tell every pair apart); titles are bilingual and the
questions they point to exist."""

import inspect

import numpy as np
import pytest

from mhaquiz.grader import grade
from mhaquiz.grader.diagnose import Evidence, explained_pairs
from mhaquiz.grader.exercises import all_exercises, get_exercise
from mhaquiz.grader.verdict import Verdict
from mhaquiz.quiz.bank import load_bank
from tests.helpers import judge_frames, planted_frames

PLANS = {}


def plan(exercise_id):
    if exercise_id not in PLANS:
        PLANS[exercise_id] = grade._plan(get_exercise(exercise_id), 0)
    return PLANS[exercise_id]


def mutants():
    return [(exercise.id, mutant.id) for exercise in all_exercises() for mutant in exercise.checks().MUTANTS]


def evidence_of(report, the_plan):
    """The diagnosis's evidence, rebuilt from a judged report (which outputs failed with a mismatch, which passed)."""
    from mhaquiz.grader.compare import MISMATCH_PROBLEMS

    found = []
    for case, expected, result in zip(the_plan.cases, the_plan.expected, report.exercises[0].cases):
        failing = {check.name for check in result.outputs if not check.passed and check.problem in MISMATCH_PROBLEMS}
        passing = {check.name for check in result.outputs if check.passed and check.name in expected}
        found.append((case, expected, failing, passing))
    return found


@pytest.mark.parametrize("exercise_id, mutant_id", mutants())
def test_planted_mistake_is_named_as_itself_and_by_no_other(exercise_id, mutant_id):
    the_plan = plan(exercise_id)
    mutant = next(m for m in the_plan.exercise.checks().MUTANTS if m.id == mutant_id)
    raised = []
    report = judge_frames([the_plan], planted_frames(the_plan, mutant, raised))
    exercise = report.exercises[0]
    assert report.verdict == (Verdict.RUNTIME_ERROR if raised else Verdict.WRONG_ANSWER), report.detail
    assert any(case.verdict == Verdict.WRONG_ANSWER for case in exercise.cases), \
        f"{mutant_id}: no case returns a wrong answer, so it can never be named"
    assert exercise.diagnosis and exercise.diagnosis[0].mistake == mutant_id, [d.mistake for d in exercise.diagnosis]
    assert not any(d.mistake == "precision" for d in exercise.diagnosis), "a mistake must be more than a precision slip"

    # No other catalogued mistake explains all of these failures without getting wrong an output the planted
    # one gets right: the cases tell each pair apart.
    from mhaquiz.grader.diagnose import call, mutated_reference
    from mhaquiz.grader.spec import Tolerance

    module = mutated_reference(the_plan.exercise, mutant)
    evidence = []
    for case, expected, failing, passing in evidence_of(report, the_plan):
        try:
            submitted = call(module, case, mutant)
        except Exception:  # noqa: BLE001
            submitted = None
        evidence.append(Evidence(case, expected, submitted, failing, Tolerance.scale(expected.values()),
                                 grade._float32_errors(the_plan, case, expected) if failing else {}, passing))
    own = explained_pairs(the_plan.exercise, mutant, evidence)
    assert own, f"{mutant_id} does not explain its own failures"
    for other in the_plan.exercise.checks().MUTANTS:
        if other.id != mutant_id:
            assert not own <= explained_pairs(the_plan.exercise, other, evidence), \
                f"{other.id} explains every failure of {mutant_id}: the cases cannot tell them apart"


@pytest.mark.parametrize("exercise_id", [exercise.id for exercise in all_exercises()])
def test_the_reference_passes_its_own_checks(exercise_id):
    the_plan = plan(exercise_id)
    report = judge_frames([the_plan], planted_frames(the_plan))
    assert report.verdict == Verdict.PASSED, report.detail


@pytest.fixture(scope="module")
def question_ids():
    return {question.id for question in load_bank().questions}


@pytest.mark.parametrize("exercise_id", [exercise.id for exercise in all_exercises()])
def test_mistakes_and_cases_speak_both_languages_and_point_to_real_questions(exercise_id, question_ids):
    checks = get_exercise(exercise_id).checks()
    ids = [mutant.id for mutant in checks.MUTANTS]
    assert len(ids) == len(set(ids))
    for mutant in checks.MUTANTS:
        assert mutant.title.zh and mutant.title.en and mutant.title.zh != mutant.title.en, mutant.id
        assert mutant.related, f"{mutant.id} names no question to review"
        assert set(mutant.related) <= question_ids, f"{mutant.id}: {set(mutant.related) - question_ids}"
    for case in checks.make_cases(0) + [checks.perf_case(0)]:
        assert case.about.zh and case.about.en, case.name
        assert case.title.zh and case.title.en, case.name


def _is_prefix_mask(mask) -> bool:
    """Every row allows a run of keys from the first one: what causal and padding masks (lengths) express."""
    rows = np.asarray(mask).reshape(-1, np.shape(mask)[-1])
    allowed = rows.sum(axis=1)
    return bool((rows == (np.arange(rows.shape[1])[None, :] < allowed[:, None])).all())


@pytest.mark.parametrize("exercise_id", [exercise.id for exercise in all_exercises()
                                         if "mask" in inspect.signature(
                                             getattr(exercise.reference(), exercise.functions[0])).parameters])
def test_every_exercise_that_takes_a_mask_grades_one_no_length_can_express(exercise_id):
    """Causal and padding masks are prefixes of the keys: code that turns the mask into lengths passes them."""
    cases = get_exercise(exercise_id).checks().make_cases(0)
    masks = [case.args["mask"] for case in cases if case.args.get("mask") is not None]
    assert any(not _is_prefix_mask(mask) for mask in masks)
    assert sum(np.asarray(mask).ndim >= 3 for mask in masks) >= 1  # a mask per example, not only one (T, T)


def test_gqa_grades_a_padding_mask_of_its_own_lengths_per_example():
    cases = get_exercise("gqa_forward").checks().make_cases(0)
    padding = [np.asarray(case.args["mask"]) for case in cases
               if case.args.get("mask") is not None and np.ndim(case.args["mask"]) == 3
               and np.shape(case.args["mask"])[1] == 1]
    assert padding and all(_is_prefix_mask(mask) for mask in padding)
    assert len({int(row.sum()) for row in padding[0][:, 0, :]}) > 1  # lengths differ between examples
