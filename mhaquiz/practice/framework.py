"""The learner's framework: the track (NumPy or PyTorch) that start, task, hint, solution, reset, list and
interview use. `grade` and `watch` need none: the file says which track it is (it imports torch or not).

Precedence: the command's flag (--torch / --numpy) > the environment variable MHAQUIZ_FRAMEWORK > the saved
setting (`mhaquiz config framework torch`, kept in the progress store's `state` table under "framework") >
numpy. A value that is not a framework is a usage error naming where it came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Optional

from mhaquiz.errors import MhaquizError
from mhaquiz.grader.exercises import TRACKS

if TYPE_CHECKING:
    from mhaquiz.store import Store

FRAMEWORKS = TRACKS  # ("numpy", "torch")
DEFAULT = "numpy"
ENV = "MHAQUIZ_FRAMEWORK"
SETTING = "framework"  # the key in the store's state table
SETTINGS = (SETTING,)  # what `mhaquiz config` knows


@dataclass(frozen=True)
class Framework:
    """The framework a command uses, and where that came from: "flag", "env", "config" or "default"."""

    name: str
    source: str


def check(value: str) -> str:
    """`value` as a framework (case and spaces aside); anything else is a usage error."""
    name = value.strip().lower()
    if name not in FRAMEWORKS:
        raise MhaquizError("error.unknown_framework", value=value, valid=" | ".join(FRAMEWORKS))
    return name


def resolve(flag: Optional[str] = None, store: Optional["Store"] = None,
            environ: Optional[Mapping[str, str]] = None) -> Framework:
    """The framework to use: `flag` ("numpy"/"torch" from --numpy/--torch), else MHAQUIZ_FRAMEWORK, else the
    setting saved in `store` (None: the progress store, if there is one, read without creating it), else
    numpy. The store is read only when neither flag nor variable decides."""
    if flag is not None:
        return Framework(check(flag), "flag")
    environ = os.environ if environ is None else environ
    from_env = environ.get(ENV, "").strip()
    if from_env:
        if from_env.lower() not in FRAMEWORKS:
            raise MhaquizError("error.unknown_framework_env", value=from_env, valid=" | ".join(FRAMEWORKS))
        return Framework(from_env.lower(), "env")
    saved = store.state(SETTING) if store is not None else _peek_saved()
    if saved:
        if saved not in FRAMEWORKS:  # written by hand, or by a later mhaquiz: say how to set it again
            raise MhaquizError("error.unknown_framework_saved", value=saved, valid=" | ".join(FRAMEWORKS))
        return Framework(saved, "config")
    return Framework(DEFAULT, "default")


def _peek_saved() -> Optional[str]:
    """The saved framework in the progress store, read only if the store exists (nothing is created)."""
    from mhaquiz.paths import user_home
    from mhaquiz.store import DATABASE_NAME, Store

    if not (user_home() / DATABASE_NAME).is_file():
        return None
    with Store.open(write=False) as store:
        return store.state(SETTING)


def save(store: "Store", value: str) -> str:
    """Remember `value` as the learner's framework (`mhaquiz config framework VALUE`); returns it checked."""
    name = check(value)
    store.set_state(SETTING, name)
    return name


def settings(store: "Store", environ: Optional[Mapping[str, str]] = None) -> dict:
    """Every setting as `mhaquiz config` shows it: {"framework": {"value", "source", "saved", "env"}}."""
    environ = os.environ if environ is None else environ
    chosen = resolve(None, store, environ)
    return {SETTING: {"value": chosen.name, "source": chosen.source, "saved": store.state(SETTING),
                      "env": environ.get(ENV) or None}}


def flag_for(track: str, store: Optional["Store"] = None, environ: Optional[Mapping[str, str]] = None) -> str:
    """The flag a suggested command needs to use `track` (" --torch"), or "" when the same command typed
    without a flag would use `track` anyway (so what is suggested does what it says)."""
    try:
        plain = resolve(None, store, environ).name
    except MhaquizError:
        plain = None
    return "" if plain == track else f" --{track}"


def torch_installed() -> bool:
    """Whether torch can be imported by this Python (which the grader's sandbox runs), without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False
