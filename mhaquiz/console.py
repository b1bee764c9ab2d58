"""Rich consoles made on demand (never frozen at import), honouring NO_COLOR and non-TTY output."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


PIPE_WIDTH = 1000  # piped output is not wrapped: a file or grep gets each line whole, whatever COLUMNS says


def make_console(stderr: bool = False) -> "Console":
    """A console for stdout (or stderr); rich itself drops colour for NO_COLOR and pipes. In a terminal it
    wraps at the terminal's width; piped, it does not wrap."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console
