"""Where things live: the shipped content folders and the user's own data."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
CONTENT_FOLDERS = ("questions", "exercises", "solutions")


def content_dir(name: str) -> Path:
    """The `questions`, `exercises` or `solutions` folder.

    A wheel ships them inside the package (mhaquiz/_content/, see pyproject.toml);
    a source checkout or an editable install uses the folders at the repository's top.
    """
    if name not in CONTENT_FOLDERS:
        raise ValueError(f"unknown content folder {name!r}")
    shipped = _PACKAGE / "_content" / name
    return shipped if shipped.is_dir() else _PACKAGE.parent / name


def user_home() -> Path:
    """The user's data directory: $MHAQUIZ_HOME, else the platform's user data dir."""
    override = os.environ.get("MHAQUIZ_HOME")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("mhaquiz", appauthor=False))
