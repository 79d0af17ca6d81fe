"""Help a musician can use: `tagbox separate --help`, `tagbox tags` and `tagbox-gui --help`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from tagbox_gui.cli import build_parser
from tagbox_gui.core.separation.backends import BACKENDS
from tagbox_gui.core.separation.loading import default_config
from tests.cli.processes import run_cli
from tests.conftest import REPO

# What to separate is a choice with no default; the song and -o are required.
NO_DEFAULT = {"help", "song", "tags", "each", "example"}


def _sub_parser(name: str) -> argparse.ArgumentParser:
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    return subparsers.choices[name]


def _without_default(parser: argparse.ArgumentParser, exempt: set[str]) -> list[list[str]]:
    """The options of ``parser`` whose help says neither their default nor that they are
    required (``exempt``: those that have none)."""
    parser.format_help()  # fills the backend defaults in
    return [
        action.option_strings or [action.dest]
        for action in parser._actions
        if action.dest not in exempt
        and not (action.help and ("default" in action.help or "required" in action.help))
    ]


def test_separate_help_says_what_it_does_with_examples_and_every_default() -> None:
    result = run_cli("separate", "--help")
    assert result.returncode == 0 and result.stderr == ""
    page = " ".join(result.stdout.split())  # argparse wraps lines
    assert "Separate an instrument you name out of a song" in page
    assert page.count("tagbox separate ") >= 3  # the usage and at least two examples
    # Each way to say what to separate, --example-region (alone a whole request) too.
    usage = result.stdout.split("\n\n")[0]
    assert all(f"--{way}" in usage for way in ("tags", "each", "example", "example-region"))
    assert '"My Song.wav" --tags piano -o stems' in page
    assert "--each drums,bass" in page
    assert "--each drums,organ=organ.wav:3:8" in page and "NAME=FILE[:START:END]" in page
    assert "--name-template TEMPLATE" in page and "(default: '{song} - {stem}')" in page
    assert "`tagbox tags` lists" in page
    # By name no download; an example clip is heard by the taggers, which must be fetched.
    assert "no download for an instrument you name" in page
    assert "example clip needs the taggers fcn/mtat and fcn/jamendo" in page
    # Each backend's defaults as core.separation.loading.default_config has them.
    configs = {backend: default_config(backend) for backend in BACKENDS}
    steps = ", ".join(f"{b} {c.steps}" for b, c in configs.items())
    assert f"(default: {steps})" in page
    assert f"light {configs['light'].lr:g}" in page
    assert "light " + ",".join(map(str, configs["light"].fft_sizes)) in page
    assert "{steps}" not in page and "{lr}" not in page  # every placeholder was filled
    # Every option says its default (or that it is required).
    assert _without_default(_sub_parser("separate"), NO_DEFAULT) == []


def test_evaluate_help_says_what_is_scored_with_examples_and_every_default() -> None:
    result = run_cli("evaluate", "--help")
    assert result.returncode == 0 and result.stderr == ""
    page = " ".join(result.stdout.split())
    assert "Only SI-SDRi measures separation" in page and "0.2 x mix" in page
    assert "laid out like shared/eval/dev" in page and "resumes" in page
    assert "tagbox evaluate ../shared/eval/dev -o est" in page
    assert "--by-example organ,trumpet" in page
    configs = {backend: default_config(backend) for backend in BACKENDS}
    assert "(default: " + ", ".join(f"{b} {c.steps}" for b, c in configs.items()) + ")" in page
    assert "{steps}" not in page and "{taggers}" not in page  # every placeholder was filled
    assert _without_default(_sub_parser("evaluate"), {"help", "set_dir"}) == []


def _without_help(parser: argparse.ArgumentParser, command: str) -> list[str]:
    """Every argument of ``parser`` and of its sub-commands, at any depth, that has no help."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _without_help(sub, f"{command} {name}")
        elif not action.help:
            missing.append(f"{command} {'/'.join(action.option_strings) or action.metavar}")
    return missing


def test_every_argument_of_every_command_says_what_it_is() -> None:
    assert _without_help(build_parser(), "tagbox") == []


def test_models_install_says_what_its_arguments_are() -> None:
    result = run_cli("models", "install", "--help")
    assert result.returncode == 0 and result.stderr == ""
    page = " ".join(result.stdout.split())
    assert "NAME model name, e.g. fcn/mtat (`tagbox models list` lists them)" in page
    assert "FILE the downloaded file" in page
    assert "accept the model's licence where it asks for consent (Jukebox: non-commercial)" in page


def test_tags_lists_the_names_each_backend_knows() -> None:
    result = run_cli("tags")
    assert result.returncode == 0, result.stderr
    assert "banjo" in result.stdout  # a prototype of the learned backend
    assert "bass (taggers trained on jamendo" in result.stdout  # a preset of the taggers
    assert "tagbox tags --tagger fcn/mtat" in result.stdout
    whole = run_cli("tags", "--tagger", "fcn/jamendo")
    assert whole.returncode == 0 and "instrument---acousticguitar" in whole.stdout


def test_tags_help_says_the_learned_backend_with_steps_needs_an_instrument_of_both_lists() -> None:
    # `separate --tags vocals --steps 5` is refused (no prototype), and so is `--tags banjo
    # --steps 5` (no tagger's tag): the learned one takes neither every tag nor every prototype.
    result = run_cli("tags", "--help")
    assert result.returncode == 0, result.stderr
    page = " ".join(result.stdout.split())
    assert "with --steps the taggers steer it too, so the instrument must be one they know" in page
    assert "and the learned one with --steps, steer music taggers" not in page


def test_gui_help_is_a_usage_text_not_a_docstring() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "tagbox_gui", "--help"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: tagbox-gui")
    assert "separate an instrument you name out of a song" in result.stdout
    assert 'tagbox-gui "My Song.wav"' in result.stdout
    # The folder chosen in the app is the default where neither --model-dir nor the variable is.
    page = " ".join(result.stdout.split())
    assert (
        "(default: $TAGBOX_MODEL_DIR, else the folder last chosen with Change folder in "
        "Tools > Models, else the user cache folder)" in page
    )
    assert "exception hook" not in result.stdout and "QApplication" not in result.stdout
