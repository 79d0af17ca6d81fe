"""The text of Help ▸ About: what the app does, with what, and under which licences."""

from __future__ import annotations

import html

from tagbox_gui import APP_NAME, __version__

ABOUT_PARAGRAPHS = (
    "Separates any instrument you name out of a song, or what sounds like a few seconds you "
    "point at. The stems are sample-aligned with the song and add back up to it exactly.",
    "The default separator is this project's own: a small network trained here on songs it "
    "composed and rendered, asked with a query in the space of frozen music taggers (after "
    "Chen et al., AAAI 2022). Its weights are made by this project and ship under the MIT "
    "licence, like the app (the LICENSE file in the source and in the installed package's "
    "metadata). Its model card, docs/separator.md in the project's source, says what it was "
    "trained on, with the SoundFonts' own licences, how well it separates and where it fails.",
    "With steering steps, TagBox (Manilow et al., ICASSP 2022) moves that query, or a light "
    "NMF model of the song, until the taggers hear the wanted tags. The taggers (Won et al., "
    "2020) are MIT-licensed and downloaded once, when first needed.",
    "The optional Jukebox backend uses OpenAI's VQ-VAE under its non-commercial licence; stems "
    "made with it inherit that licence.",
)


def about_html() -> str:
    """The About box's rich text: the app's name and version, then one paragraph a topic."""
    body = "".join(f"<p>{html.escape(text, quote=False)}</p>" for text in ABOUT_PARAGRAPHS)
    return f"<b>{html.escape(APP_NAME)} {html.escape(__version__)}</b>{body}"
