#!/usr/bin/env bash
# Installs everything TagBox GUI needs on a fresh Debian/Ubuntu machine (run as root or with sudo),
# then the package itself in editable mode with its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
  # PortAudio for playback, Xvfb for screenshots, and the X/EGL libraries Qt loads even offscreen;
  # FluidSynth and one small SoundFont for the tests of training/ (training/setup.sh adds the
  # rest of the SoundFonts a corpus is rendered with). PulseAudio (a null sink, no hardware),
  # its tools (parec) and ALSA's pulse plugin for the tests that play through PortAudio for real.
  pkgs="fluidsynth timgm6mb-soundfont \
pulseaudio pulseaudio-utils libasound2-plugins \
libportaudio2 libsndfile1 xvfb xauth libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1 libglib2.0-0"
  # Debian's own Python comes without pip (python3-pip); a Python that has it (pyenv, a venv)
  # needs nothing more.
  python3 -m pip --version >/dev/null 2>&1 || pkgs="$pkgs python3-pip"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  fi
fi

# A system Python that Debian 12 or Ubuntu 23.04+ marks "externally managed" (PEP 668) refuses
# pip outside a virtual environment. On such a machine (a fresh VM, a CI runner) the packages
# go into it all the same; in a virtual environment, or a Python of one's own, nothing changes.
if python3 - <<'PY'
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if sys.prefix == sys.base_prefix and os.path.exists(marker) else 1)
PY
then
  export PIP_BREAK_SYSTEM_PACKAGES=1
fi

# torch is pinned to 2.13.0; naming it first lets pip take a local CPU wheel where one exists.
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e ".[dev]"
