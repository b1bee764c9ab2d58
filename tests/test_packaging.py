"""The installed package (non-editable in CI) finds its content from any directory and runs as a module."""

import json
import os
import subprocess
import sys

from mhaquiz import __version__


def run_elsewhere(tmp_path, *args):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_content_folders_are_found_from_another_directory(tmp_path):
    script = ("import json; from mhaquiz.paths import content_dir; "
              "print(json.dumps({n: sorted(p.name for p in content_dir(n).iterdir()) "
              "for n in ('questions', 'exercises', 'solutions')}))")
    result = run_elsewhere(tmp_path, "-c", script)
    assert result.returncode == 0, result.stderr
    content = json.loads(result.stdout)
    assert len([name for name in content["questions"] if name.endswith(".yaml")]) >= 6
    assert {"mha_forward", "mha_backward"} <= set(content["exercises"])
    assert {"mha_forward.py", "mha_backward.py"} <= set(content["solutions"])


def test_python_dash_m_runs_the_cli(tmp_path):
    result = run_elsewhere(tmp_path, "-m", "mhaquiz", "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"mhaquiz {__version__}"


def test_installed_grader_grades_a_shipped_solution(tmp_path):
    script = ("from mhaquiz.paths import content_dir; from mhaquiz.grader.grade import grade_file; "
              "r = grade_file(content_dir('solutions') / 'mha_backward.py'); print(r.verdict)")
    result = run_elsewhere(tmp_path, "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "passed"
