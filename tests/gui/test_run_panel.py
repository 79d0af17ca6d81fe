"""The run panel: a job's line of instruments as written, and an ETA that counts down during a
long step."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt


def test_the_job_line_of_the_run_panel_renders_names_as_written(qtbot) -> None:
    """Every instrument of a job, with its mark, and no markup shown as text (a finished job
    has no name in bold, and a user's own name may hold "&" or "<")."""
    from PySide6.QtGui import QTextDocument

    from tagbox_gui.gui.widgets.run_panel import RunPanel

    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.started_job(["drums", "R&B <lead>"], 4, one_pass=True, looks=True)  # two parts, two looks

    def rendered() -> str:
        assert panel.parts.textFormat() == Qt.TextFormat.RichText
        document = QTextDocument()
        document.setHtml(panel.parts.text())
        return document.toPlainText().replace("\xa0", " ")

    assert rendered() == "▸ drums   ○ R&B <lead>"
    panel.show_parts(1, 1)
    assert rendered() == "✓ drums   ▸ R&B <lead>"
    panel.show_refining(1, 3)  # both separated; the second look at the second one
    assert rendered() == "✓ drums   ✓ R&B <lead>" and panel.progress.value() == 3
    assert panel.status.text() == "Looking again at R&B <lead> without the others (2 of 2)…"
    assert panel.status.textFormat() == Qt.TextFormat.PlainText  # a name is never markup
    panel.show_looking_again("R&B <lead>", ("bass", "drums"))  # as a single run would
    assert panel.status.text() == "Looking again at R&B <lead> without the bass and the drums…"
    panel.show_parts(2, 2, finished=2)
    assert rendered() == "✓ drums   ✓ R&B <lead>"
    panel.show_parts(1, 1, finished=1)  # stopped after the first
    assert rendered() == "✓ drums   ○ R&B <lead>"
    captions = panel._captions
    assert (captions["step"].text(), captions["per_step"].text()) == ("Passes", "Time/pass")
    panel.started_job(
        ["drums", "bass"], 120, one_pass=False, looks=False
    )  # steered: steps, not passes
    assert (captions["step"].text(), captions["per_step"].text()) == ("Steps", "Time/step")
    assert captions["step"].toolTip() == "Steps of all 2 instruments"
    panel.started(60, "Separating piano…")  # a single run has no tooltip of a job's
    assert captions["step"].text() == "Step" and captions["step"].toolTip() == ""


def test_the_eta_counts_down_during_a_long_step(monkeypatch) -> None:
    """A job's units can be whole passes of many seconds: the ETA goes down meanwhile instead
    of standing still beside the elapsed time, but never below the units still to come."""
    import tagbox_gui.gui.widgets.run_panel as run_panel

    now = [100.0]
    monkeypatch.setattr(run_panel.time, "monotonic", lambda: now[0])
    clock = run_panel.RunClock()
    clock.reset(4)
    now[0] += 10.0
    clock.tick(1)  # 10 s a pass: 30 s to go
    assert clock.eta == pytest.approx(30.0)
    now[0] += 4.0
    assert clock.eta == pytest.approx(26.0)
    now[0] += 20.0  # a pass far slower than the others: the two after it still take 20 s
    assert clock.eta == pytest.approx(20.0)
    clock.pause(True)
    now[0] += 60.0
    assert clock.eta == pytest.approx(20.0)


def test_a_one_pass_run_shows_its_elapsed_time(qtbot) -> None:
    """A one-pass run has no steps to count, but its time goes on: Elapsed shows it (and the
    bar's description, read by a screen reader, does not say "No run yet")."""
    from tagbox_gui.gui.widgets.run_panel import RunPanel

    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.started(0, "Separating piano in the whole song")
    assert panel.labels["elapsed"].text() == "0:00"
    assert panel.progress.accessibleDescription() == "Elapsed 0:00"
    panel.finished("Separated in one pass of the learned separator.", separated=True)
    assert panel.labels["elapsed"].text() == "0:00"
    panel.clear()  # a new song: no run
    assert panel.labels["elapsed"].text() == "–"
    assert panel.progress.accessibleDescription() == "No run yet"
