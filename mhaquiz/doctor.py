"""`mhaquiz doctor`: how this machine grades, what that guarantees, and how to get the strong sandbox.

The probe runs bubblewrap with the arguments grading uses (not just `which bwrap`: AppArmor or a container
can forbid the namespaces it needs), so what it says is what `grade` will do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mhaquiz import __version__
from mhaquiz.i18n import locale_language, t


def probe_bwrap(executable: str) -> tuple:
    """(works, first line of bwrap's complaint) for the argv grading uses, running `true` inside."""
    from mhaquiz.grader import engine

    with tempfile.TemporaryDirectory(prefix="mhaquiz-doctor-") as folder:
        (Path(folder) / "probe.py").write_text("", encoding="utf-8")
        argv = [executable, *engine.bwrap_arguments(Path(folder)), "--", sys.executable, "-I", "-c", "pass"]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as error:
            return False, str(error)
    complaint = (result.stderr.strip().splitlines() or [""])[0]
    return result.returncode == 0, complaint[:300]


def diagnose_setup(mode: str = "auto") -> dict:
    """Everything `doctor` reports, as data, for the sandbox mode `grade` would be given (auto, bwrap, process)."""
    from mhaquiz.errors import MhaquizError
    from mhaquiz.grader import engine
    from mhaquiz.grader.grade import check_limits
    from mhaquiz.paths import user_home

    check_limits(1.0, 1, mode)
    chosen, reason = engine.choose(mode)
    if mode == "bwrap" and chosen.name != "bwrap":
        raise MhaquizError("error.no_bwrap", reason=reason)
    facts = {"version": __version__, "python": sys.version.split()[0], "executable": sys.executable,
             "language": locale_language(), "store": str(user_home() / "progress.sqlite3"),
             "store_state": _store_state(),
             "engine": chosen.name, "reason": reason}
    if chosen.name == "bwrap":
        works, complaint = probe_bwrap(chosen.executable)
        facts.update(bwrap=chosen.executable, bwrap_version=engine.bwrap_version(chosen.executable), bwrap_works=works)
        if not works:
            if mode == "bwrap":
                raise MhaquizError("error.bwrap_failed", reason=complaint)
            facts.update(engine="process", reason=f"bubblewrap could not start the sandbox: {complaint}")
    facts.update(kernel_confinement(facts["engine"]))
    try:
        import numpy

        facts["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover - a dependency
        facts["numpy"] = None
    facts.update(torch_facts())
    return facts


def torch_facts() -> dict:
    """Whether the grader's Python (this one: the sandbox runs it) can import torch, and which version, found
    without importing it (1.3 s here): {"torch": version or None, "torch_importable": bool}."""
    import importlib.metadata
    import importlib.util

    try:
        importable = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        importable = False
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"torch": (version or "?") if importable else None, "torch_importable": importable}


def kernel_confinement(engine_name: str) -> dict:
    """What the runner's own confinement reaches here (grader/confine.py), and the level grading gets:
    bwrap, landlock (with or without seccomp), seccomp, or hook (the audit hook alone)."""
    from mhaquiz.grader import confine

    found = confine.probe()
    level = ("bwrap" if engine_name == "bwrap" else "landlock" if found["landlock"] else
             "seccomp" if found["seccomp"] else "hook")
    return {**found, "level": level, "machine": os.uname().machine}


def _store_state() -> dict:
    """The progress store's state, read without changing anything (store.inspect_store)."""
    from mhaquiz.store import inspect_store

    return inspect_store()


def _store_line(state: dict, lang: str) -> str:
    """One line on the store's state, in `lang`."""
    from mhaquiz.store import why_text

    why = state.get("why") or {}
    return t(f"doctor.store_state.{state['state']}", lang, answers=state.get("answers"), grades=state.get("grades"),
             why=(why.get("text") or {}).get(lang) or why_text(why.get("why", "other"), why.get("detail", ""), lang)
             if why else "")


def render_doctor(console, facts: dict, lang: str) -> None:
    from rich.text import Text

    console.print(Text(t("doctor.title", lang, version=facts["version"], python=facts["python"],
                         numpy=facts.get("numpy") or "?"), style="bold"))
    console.print(Text(t("doctor.store", lang, path=facts["store"])))
    if facts.get("store_state"):
        state = facts["store_state"]["state"]
        console.print(Text(_store_line(facts["store_state"], lang),
                           style="green" if state in ("ok", "missing") else "bold yellow"))
    console.print(Text(t("doctor.language", lang, language=facts["language"])))
    if facts.get("torch_importable"):
        console.print(Text(t("doctor.torch", lang, version=facts.get("torch") or "?"), style="green"))
        console.print(Text(t("doctor.torch_limits", lang)))
    else:
        console.print(Text(t("doctor.no_torch", lang), style="yellow"))
    if facts["engine"] == "bwrap":
        console.print(Text(t("doctor.strong", lang, version=facts.get("bwrap_version") or "?"), style="bold green"))
        console.print(Text(t("doctor.strong_guarantees", lang)))
        _render_kernel(console, facts, lang)
    else:
        console.print(Text(t("doctor.fallback", lang, reason=facts.get("reason") or ""), style="bold yellow"))
        console.print(Text(t("doctor.fallback_guarantees", lang)))
        _render_kernel(console, facts, lang)
        console.print(Text(t("doctor.kernel_limits" if facts.get("landlock") else "doctor.fallback_limits", lang)))
        console.print(Text(t("doctor.how_to_get", lang)))


def _render_kernel(console, facts: dict, lang: str) -> None:
    """The kernel's confinement of the runner: its level, and what each layer guarantees."""
    from rich.text import Text

    abi, filtered = facts.get("landlock"), facts.get("seccomp")
    key = ("doctor.level_kernel" if abi and filtered else "doctor.level_landlock" if abi else
           "doctor.level_seccomp" if filtered else "doctor.level_hook")
    console.print(Text(t(key, lang, abi=abi, machine=facts.get("machine", "")),
                       style="bold green" if abi else "bold yellow"))
    if abi:
        console.print(Text(t("doctor.landlock_guarantees", lang)))
        for needed, line in ((4, "doctor.landlock_network"), (6, "doctor.landlock_scope")):
            if abi >= needed:
                console.print(Text(t(line, lang)))
    if filtered:
        console.print(Text(t("doctor.seccomp_guarantees", lang)))
