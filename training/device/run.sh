#!/usr/bin/env bash
# On a lent GPU machine, from the repository root, with .dev/ carried (training/device/bundle.sh
# made it): set up the carried FluidSynth, SoundFonts and wheels, then run devrun.py.
# Run v7: the device tool's `run` with command "BUDGET_S=545 bash .dev/run.sh", carry [".dev"],
# timeout 600; the run comes back under $OUT/v7g.
set -uo pipefail
D=$PWD/.dev
[ -n "${SKIP_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile \
  --no-cache-dir --upgrade --target /tmp/site "$D"/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
mkdir -p /tmp/fs && tar -xJf "$D/fs.tar.xz" -C /tmp/fs --strip-components=1
printf '#!/bin/sh\nLD_LIBRARY_PATH=/tmp/fs/lib exec /tmp/fs/fluidsynth.bin "$@"\n' > /tmp/fs/fluidsynth
# the machine has no SoundFont packages: training.soundfonts takes the checked bundle instead
export TAGBOX_SOUNDFONT_BUNDLE=$D/sf2
chmod +x /tmp/fs/fluidsynth
nvidia-smi -L; /tmp/fs/fluidsynth --version | head -1; nproc
PYTHONUNBUFFERED=1 python3 "$D/devrun.py" 2>&1 \
  | grep --line-buffered -v "it/s\]\|step/s\]\|song/s\]" | tee "$OUT/log.txt"
