"""Rich consoles made on demand (never frozen at import), honouring NO_COLOR and non-TTY output."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def make_console(stderr: bool = False) -> "Console":
    """A console for stdout (or stderr); rich itself drops colour for NO_COLOR and pipes."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)
