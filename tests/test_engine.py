"""The engines: bubblewrap's argv (read as a sandbox reviewer would) and how each engine's exit status reads."""

import signal

import pytest

from mhaquiz.grader import engine
from mhaquiz.grader.engine import BwrapEngine, Exit, ProcessEngine
from mhaquiz.paths import content_dir, user_home


@pytest.fixture
def argv(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "mha.py").write_text("x = 1\n")
    (work / "helper.py").write_text("y = 2\n")
    return BwrapEngine("/usr/bin/bwrap").launch(work, status_fd=7).argv


def pairs(argv, flag):
    """The (source, destination) of every occurrence of a two-argument flag."""
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == flag]


def test_namespaces_capabilities_session_and_parent_death(argv):
    for flag in ("--die-with-parent", "--new-session", "--unshare-all", "--clearenv"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"  # root keeps every capability otherwise
    assert argv[argv.index("--json-status-fd") + 1] == "7"


def test_only_read_only_binds_and_the_private_tmp_is_writable(argv):
    assert "--bind" not in argv and "--dev-bind" not in argv  # nothing of the host is writable
    assert "--tmpfs" in argv and argv[argv.index("--tmpfs") - 2] == "--size"


def test_the_submissions_folder_is_bound_read_only_after_the_tmpfs_and_proc_dev_come_last(argv, tmp_path):
    tmpfs = max(i for i, arg in enumerate(argv) if arg == "--tmpfs" and argv[i + 1] == engine.SANDBOX_TMP)
    inbox = [i for i, arg in enumerate(argv) if arg == "--ro-bind" and argv[i + 2] == engine.SANDBOX_INBOX]
    assert [argv[i + 1] for i in inbox] == [str(tmp_path / "work")]  # the grader's copies; the warden copies a job out
    assert all(i > tmpfs for i in inbox)  # a later mount hides an earlier one
    assert "--bind" not in argv  # read-only: a runner writes only to its own folder on the tmpfs
    binds = [i for i, arg in enumerate(argv) if arg in ("--ro-bind", "--ro-bind-try", "--symlink", "--tmpfs")]
    assert argv.index("--proc") > max(binds) and argv.index("--dev") > max(binds)
    assert argv[argv.index("--chdir") + 1] == engine.SANDBOX_WORKDIR


def under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def test_the_learners_data_and_our_exercises_are_not_visible(argv):
    bound = [source for source, _ in pairs(argv, "--ro-bind")]
    covered = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--tmpfs"]  # an empty tmpfs hides what is below
    for path in (str(user_home()), str(content_dir("solutions")), str(content_dir("exercises"))):
        visible = any(under(path, source) for source in bound) and not any(under(path, top) for top in covered)
        assert not visible, path
    assert any(under(str(engine.PACKAGE_DIR), source) for source in bound)
    assert str(engine.PACKAGE_ROOT) not in bound  # in a checkout the folder around the package holds solutions/
    assert "/" not in bound and "/home" not in bound and "/root" not in bound


def test_environment_is_empty_but_for_what_python_needs(argv):
    env = dict(pairs(argv, "--setenv"))
    assert "MHAQUIZ_HOME" not in env and env["HOME"] == engine.SANDBOX_TMP
    assert env["OPENBLAS_NUM_THREADS"] == "1"


def test_the_command_is_isolated_python_with_the_package_root_first(argv):
    command = argv[argv.index("--") + 1:]
    assert command[1:4] == ["-I", "-B", "-c"]
    assert repr(str(engine.PACKAGE_ROOT)) in command[4]


@pytest.mark.parametrize("returncode, status, expected", [
    (0, {"exit-code": 0}, Exit(code=0)),
    (1, {"exit-code": 1}, Exit(code=1)),
    (137, {"exit-code": 137}, Exit(signal=signal.SIGKILL)),  # a signal comes back as 128 + n
    (152, {"exit-code": 152}, Exit(signal=signal.SIGXCPU)),  # the CPU limit: a time limit, not a crash
    (139, {}, Exit(signal=signal.SIGSEGV)),
    (-9, {}, Exit(signal=signal.SIGKILL)),  # bwrap itself killed by the grader at the deadline
    (None, {}, Exit()),
])
def test_bwrap_exit_status_decodes(returncode, status, expected):
    assert BwrapEngine.decode(returncode, status) == expected


@pytest.mark.parametrize("returncode, expected", [
    (0, Exit(code=0)), (3, Exit(code=3)), (-signal.SIGXCPU, Exit(signal=signal.SIGXCPU)),
    (-signal.SIGKILL, Exit(signal=signal.SIGKILL)), (None, Exit())])
def test_process_exit_status_decodes(returncode, expected):
    assert ProcessEngine.decode(returncode) == expected


def test_choose_falls_back_saying_why(monkeypatch):
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    chosen, reason = engine.choose("auto")
    assert chosen.name == "process" and "apt-get install bubblewrap" in reason
    monkeypatch.setattr(engine.shutil, "which", lambda name: "/usr/bin/bwrap")
    chosen, reason = engine.choose("auto")
    assert chosen.name == "bwrap" and reason is None
    chosen, reason = engine.choose("process")
    assert chosen.name == "process" and "--sandbox process" in reason


def test_fallback_environment_has_nothing_of_the_learners(tmp_path, monkeypatch):
    monkeypatch.setenv("MHAQUIZ_HOME", "/secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    launch = ProcessEngine().launch(tmp_path)
    assert launch.env == engine.base_environment(str(tmp_path))
    assert launch.cwd == str(tmp_path) and launch.argv[1:3] == ["-I", "-B"]
