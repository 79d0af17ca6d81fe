#!/usr/bin/env bash
# Install the system packages the training-data renderer needs: the FluidSynth command line
# and the five SoundFont packages it may use (Debian/Ubuntu). Idempotent: packages that
# dpkg already reports as installed are skipped, and apt-get update runs at most once.
set -euo pipefail

PACKAGES=(
    fluidsynth
    fluid-soundfont-gm
    fluid-soundfont-gs
    timgm6mb-soundfont
    csound-soundfont
    opl3-soundfont
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        echo "already installed: $pkg"
    else
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "all packages installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
