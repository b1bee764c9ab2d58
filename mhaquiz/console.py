"""Rich consoles made on demand (never frozen at import), honouring NO_COLOR and non-TTY output, and rich's
line breaking taught Chinese (i18n.divide_line) in the one place all of rich's wrapping goes through."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


PIPE_WIDTH = 1000  # piped output is not wrapped: a file or grep gets each line whole, whatever COLUMNS says


def make_console(stderr: bool = False) -> "Console":
    """A console for stdout (or stderr); rich itself drops colour for NO_COLOR and pipes. In a terminal it
    wraps at the terminal's width; piped, it does not wrap."""
    from rich.console import Console

    install_line_breaking()
    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def install_line_breaking() -> None:
    """Make every rich Text (panels, tables, Markdown, typer's help) break Chinese between characters with the
    kinsoku rules of i18n.divide_line, and measure its narrowest width by those pieces, not by whole
    space-separated "words" (a Chinese sentence has none). Idempotent."""
    import rich._wrap
    import rich.text
    from rich.measure import Measurement

    from mhaquiz import i18n

    if getattr(rich.text, "_mhaquiz_line_breaking", False):
        return
    rich._wrap.divide_line = rich.text.divide_line = i18n.divide_line
    rich.text._mhaquiz_line_breaking = True
    measure = rich.text.Text.__rich_measure__

    def narrowest(self, console, options):
        measured = measure(self, console, options)
        if not i18n.contains_cjk(self.plain):
            return measured
        from rich.cells import cell_len

        pieces = [cell_len(unit.rstrip()) for line in self.plain.splitlines() for _, _, unit in i18n.break_units(line)]
        return Measurement(min(measured.minimum, max(pieces, default=0)), measured.maximum)

    rich.text.Text.__rich_measure__ = narrowest
