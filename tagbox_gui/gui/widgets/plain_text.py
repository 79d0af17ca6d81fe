"""Text with the user's names in it (songs, files, stems, examples) shown as typed.

Qt draws a label, a message box or a tooltip as HTML when its text looks like HTML
(``Qt.mightBeRichText``): a song called "<b>Demo</b>.wav" would lose its tags and turn bold,
and "a &lt; b" would read "a < b". Labels and message boxes are told the format
(``Qt.TextFormat.PlainText``); tooltips have no format of their own, so :func:`tooltip` escapes
what would be taken for HTML.

A button, a check box, a menu entry, a tab, a group box's title and a label with a buddy take
'&' for a mnemonic: a stem called "R&B keys" would read "RB keys" with the B underlined (and
Alt+B pressing it). :func:`keep_ampersands` doubles each '&' of a name put there.
"""

from __future__ import annotations

import html

from PySide6.QtGui import Qt  # QtGui's Qt has mightBeRichText too
from PySide6.QtWidgets import QCheckBox, QMessageBox, QWidget

Button = QMessageBox.StandardButton


def tooltip(text: str) -> str:
    """``text`` as a tooltip shows it, character for character (lines kept)."""
    if not Qt.mightBeRichText(text):
        return text  # drawn as plain text already
    return f"<p style='white-space:pre'>{html.escape(text, quote=False)}</p>"


def keep_ampersands(text: str) -> str:
    """``text`` (a name of the user's or of a vocabulary) as a button, a check box, a menu
    entry, a tab, a group box's title or a label with a buddy shows it: each '&' doubled, so
    none is taken for a mnemonic."""
    return text.replace("&", "&&")


def question(
    parent: QWidget | None,
    title: str,
    text: str,
    buttons: Button = Button.Yes | Button.No,
    default: Button = Button.No,
    checkbox: QCheckBox | None = None,
) -> Button:
    """``QMessageBox.question`` with ``text`` drawn as plain text; the button chosen.

    Enter answers ``default``: No unless told otherwise, since what is asked (quitting during a
    run, replacing stems) loses something. Qt's own default would be Yes.

    A ``checkbox`` (e.g. "Do not ask again") is shown under the text; the caller reads it
    once this returns."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(default)
    if checkbox is not None:
        box.setCheckBox(checkbox)
    box.exec()
    clicked = box.clickedButton()
    answer = Button.Cancel if clicked is None else box.standardButton(clicked)
    box.deleteLater()  # answered: else each question stays a hidden child of ``parent``
    return answer
