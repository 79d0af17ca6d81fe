"""What `tagbox separate` says of how far a run, or an ``--each`` job, got when it ends early:
Ctrl+C or SIGTERM, or a part that fails. No stem is written then: the stems of a run, or of a
job, appear together or not at all, so what was made so far is not kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from tagbox_gui.core.errors import UserError, listed
from tagbox_gui.core.types import JobPart

__all__ = ["NOTHING_WRITTEN", "WRITING_STOPPED", "JobProgress", "run_stopped"]

NOTHING_WRITTEN = "no stem was written"
WRITING_STOPPED = (
    f"stopped while writing the stems; {NOTHING_WRITTEN}, and the output folder is as it was"
)
"""What is said as Ctrl+C or SIGTERM ends the writing of the stems: they appear together or
not at all (``core.audio.files.write_together``), so the files being written are removed, the
stems they were to replace put back, and a folder made for them removed again."""


def run_stopped(run: str, made: int, steps: int) -> str:
    """That ``run`` ("the run", "the run of piano") stopped when ``made`` of its ``steps``
    steps were made, or, for a one-pass run (0 steps), before its pass was done."""
    if steps:
        return f"{run} stopped when {made} of its {steps} steps were made"
    return f"{run} stopped before its single pass was done"


@dataclass
class JobProgress:
    """How far an ``--each`` job got, followed from its events: the parts whose runs ended
    (``done``), and what was under way: a part's run and the steps it made, or the second
    look at a stem (``looking_at``)."""

    done: list[str] = field(default_factory=list)
    part: JobPart | None = None
    made: int = 0
    looking_at: str = ""

    def began(self, part: JobPart) -> None:
        """``part``'s run began."""
        self.part, self.made, self.looking_at = part, 0, ""

    def stepped(self) -> None:
        """The run under way made a step."""
        self.made += 1

    def looking_again(self, name: str) -> None:
        """The second look at stem ``name`` began."""
        self.looking_at = name

    def ended(self, name: str) -> None:
        """Part ``name``'s run ended, its stem separated."""
        self.done.append(name)
        self.part, self.made, self.looking_at = None, 0, ""

    def stopped(self) -> str:
        """What to say as Ctrl+C or SIGTERM ends the job here: where it stopped, which parts
        were done, and that no stem was written."""
        if self.looking_at:
            where = f"the job stopped during the second look at {self.looking_at}"
        elif self.part is not None:
            where = run_stopped(f"the run of {self.part.name}", self.made, self.part.config.steps)
        elif self.done:
            return f"the job stopped {self._after()}; {NOTHING_WRITTEN}"
        else:
            where = "the job stopped before its first run"
        return f"{where}{self.so_far()}; {NOTHING_WRITTEN}"

    def under_way(self) -> str:
        """What was under way: "the run of piano", "the second look at bass"; '' between parts
        (and before the first, and after the last)."""
        if self.looking_at:
            return f"the second look at {self.looking_at}"
        return f"the run of {self.part.name}" if self.part is not None else ""

    def so_far(self) -> str:
        """ ", after piano and bass were separated", or '' before any part was."""
        return f", {self._after()}" if self.done else ""

    def failed(self, error: UserError) -> UserError:
        """``error``, which ended the job here, told with the part it ended (the run, or the
        second look, of that stem), the parts done before it, and that no stem was written; an
        error between parts as it is."""
        what = self.under_way()
        if not what:
            return error
        return _reworded(error, f"{what} failed{self.so_far()}, so {NOTHING_WRITTEN}: {error}")

    def _after(self) -> str:
        verb = "was" if len(self.done) == 1 else "were"
        return f"after {listed(self.done)} {verb} separated"


def _reworded(error: UserError, message: str) -> UserError:
    """An error of ``error``'s kind that says ``message``: of the nearest kind made of a
    message alone, where its own is made of more (``NotFinite``: a step and a word)."""
    kind = next(k for k in type(error).__mro__
                if issubclass(k, UserError) and "__init__" not in vars(k))  # fmt: skip
    return kind(message)
