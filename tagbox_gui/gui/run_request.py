"""What Run would separate, read from the window's panels, and why it cannot start yet."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from tagbox_gui.core.audio.song import MIN_AUDIO_SECONDS
from tagbox_gui.core.errors import listed
from tagbox_gui.core.separation.job import JobPart
from tagbox_gui.core.types import Example, RunConfig
from tagbox_gui.gui.engine_loader import LazyModule
from tagbox_gui.gui.run_problems import parts_problem
from tagbox_gui.gui.run_window import RunWindow
from tagbox_gui.gui.session import REGION_EXAMPLE, RegionExample
from tagbox_gui.gui.settings import backend_defaults
from tagbox_gui.gui.widgets.run_panel import run_tip
from tagbox_gui.gui.widgets.settings_panel import NO_TAGGER

if TYPE_CHECKING:
    from tagbox_gui.core.separation.backends import learned
else:  # imported when first used: it loads torch (see tagbox_gui.gui.engine_loader)
    learned = LazyModule("tagbox_gui.core.separation.backends.learned")


class RunRequest(QObject):
    """The parts a Run separates and whether it can start, as the panels say now.

    Run's button (its tooltip says why it is off) and the picker's "Add the region as an
    example" follow the panels as they change; a subclass (``RunView``) starts the runs.
    Taggers a run needs and the model folder lacks keep Run on: pressing it asks for them
    (``taggers_needed`` with their names, :meth:`missing_taggers`).
    """

    taggers_needed = Signal(list)
    waiting_for = ""  # why no run can start yet, e.g. "Loading the engine…" (the window's say)

    def __init__(self, window: RunWindow) -> None:
        super().__init__(window)  # type: ignore[arg-type]
        self.w = window
        window.tag_panel.tags_changed.connect(self.update_can_run)
        window.picker.picks_changed.connect(self.update_can_run)
        window.picker.example_requested.connect(self.add_example)

    def problem(self) -> str:
        """Why Run cannot start now (one sentence), or ''."""
        if self.waiting_for:
            return self.waiting_for
        if self.w.loader.busy:
            return "Wait until the song has opened."
        if self.w.song is None:
            return "Open a song first (File ▸ Open)."
        if self.w.song.duration < MIN_AUDIO_SECONDS:  # no region of it is long enough either
            return (
                "The song is shorter than half a second, too short to separate; open a longer song."
            )
        parts = self.parts()
        if not parts:
            return self.w.picker.why_none or (
                "Pick an instrument (or a tag in the Tags panel) to separate."
            )
        if self.w.tag_panel.wanted():
            if problem := self.w.tag_panel.problem():  # the run would refuse the panel's choices
                return problem
            one_pass = self._learned() and self.w.settings_panel.settings().steps == 0
            if one_pass and (problem := self._one_pass_problem()):
                return problem
        problem = parts_problem(parts, self.w.song, self._learned())
        problem = problem or self.w.settings_panel.problem()
        if problem == NO_TAGGER and not self.w.store.available_taggers():
            return ""  # none to choose: Run offers to download one (missing_taggers)
        return problem

    def missing_taggers(self) -> list[str]:
        """The taggers Run needs that the model folder lacks, by their registry names: the two
        that hear an example clip (``core.nets.queries.QUERY_TAGGERS``), and where the settings
        steer with no tagger downloaded, the backend's default ones. Only those known to be
        missing: a folder that cannot be searched, or one gone, is the run's to tell of."""
        from tagbox_gui.core.nets.queries import QUERY_TAGGERS  # loads torch: the engine is in

        store = self.w.store
        needed = []
        if any(p.config.example is not None for p in self.parts()):
            needed += [str(spec) for spec in QUERY_TAGGERS]
        if self.w.settings_panel.needs_tagger() and not store.available_taggers():
            settings = self.w.settings_panel.settings()
            needed += backend_defaults(settings.backend, settings.device).taggers
        return store.missing(needed)

    def _one_pass_problem(self) -> str:
        """Why the learned separator's one pass cannot take the Tags panel's choices: it is
        asked for an instrument by name, and avoided or ignored tags only steer (or '')."""
        tags = self.w.tag_panel
        if tags.avoided() or tags.ignored():
            return (
                "Avoided and ignored tags steer the taggers, which one pass (0 steps) does "
                "not use: give some steps in Settings, or set those tags back to default."
            )
        unknown = [w for w in tags.wanted() if not learned.has_prototype(w)]
        if unknown:
            return (
                f"In one pass (0 steps) the learned separator knows no "
                f"{tags.board.row(unknown[0]).label}: give some steps in Settings to steer "
                "by the tag, or pick an instrument instead."
            )
        return ""

    def _learned(self) -> bool:
        return self.w.settings_panel.settings().backend == "learned"

    def parts(self) -> list[JobPart]:
        """What Run separates: each picked instrument or example, the Tags panel's wanted tags,
        and "the region as the example", one stem each."""
        w = self.w
        base = self._base_config()
        parts = [
            JobPart(p.name, replace(base, tags=(), avoid=(), ignore=(), example=p.example,
                                    region=None))
            if p.example is not None
            else JobPart(p.name, replace(base, tags=(p.name,), avoid=(), ignore=()))
            for p in w.picker.picks()
        ]  # fmt: skip
        if w.tag_panel.wanted():
            parts.append(JobPart(" + ".join(w.tag_panel.stem_words()), base))
        example = w.song_panel.example()
        if example is not None:
            config = replace(base, tags=(), avoid=(), ignore=(), example=example)
            parts.append(RegionExample(REGION_EXAMPLE, config))
        return parts

    def _base_config(self) -> RunConfig:
        w = self.w
        return w.settings_panel.settings().to_config(
            w.tag_panel.wanted(),
            w.tag_panel.avoided(),
            w.tag_panel.ignored(),
            w.tag_panel.avoid_others.isChecked(),
            w.tag_panel.ignore_related.isChecked(),
            w.song_panel.region(),
        )

    @Slot(str)
    def add_example(self, name: str) -> None:
        """The song's selected region becomes an example clip named ``name``."""
        panel = self.w.song_panel
        if self.w.song is None:
            self.w.show_message("Open a song first, then select where the instrument plays.")
            return
        self.w.picker.add_example(name, Example(None, panel.start.value(), panel.end.value()))

    @Slot()
    def update_can_run(self) -> None:
        problem = self.problem()
        missing = [] if problem else self.missing_taggers()
        offer = f"{run_tip()}: first asks to download {listed(missing)}, the taggers it needs"
        self.w.run_panel.set_can_run(not problem, problem or (offer if missing else ""))
        learned, song = self._learned(), self.w.song is not None
        self.w.picker.set_can_add_example(
            learned and song,
            "" if learned and song else "Open a song and choose the learned separator first.",
        )
        self.w.song_panel.set_examples_taken(learned)  # the region they are added from
