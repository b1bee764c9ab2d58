"""The practice loop: coding exercises as a learner practises them, above the grader (mhaquiz/grader/) and the
quiz (mhaquiz/quiz/), which never import it.

- loop.py: the curriculum, each exercise's status, start / hint / solution / reset, recording grades (with
  the mistakes they name and the questions those bring forward), watching a file.
- view.py: their rendering.
- interview.py: the timed mock interview (quiz questions, then one exercise).

The loop's names are importable from here too (`from mhaquiz.practice import statuses`).
"""

from mhaquiz.practice.loop import (  # noqa: F401  (the package's API)
    ATTEMPTED,
    check_track,
    current_exercise,
    curriculum,
    DEBOUNCE_MS,
    exercise_file,
    ExerciseStatus,
    find_exercise,
    file_track,
    fresh_file,
    has_passed,
    HintReveal,
    hints,
    is_untouched_stub,
    LineReader,
    next_exercise,
    NOT_STARTED,
    PASSED,
    put_aside,
    record_report,
    remember,
    reset,
    reveal_hint,
    solution_name,
    solution_source,
    start,
    Started,
    statuses,
    STATUSES,
    STEP_MS,
    submission_hash,
    title,
    totals,
    watch_file,
)
