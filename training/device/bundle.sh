#!/usr/bin/env bash
# Assemble, in .dev/ (git-ignored by .gitignore), what a bare GPU machine needs to render
# and train there (training/device/run.sh): FluidSynth with its shared libraries, the TimGM6mb
# and csound SoundFonts (as a checked bundle, see training/soundfonts.py), Python 3.12 wheels of
# soundfile and cffi, the two query taggers, the corpus manifests, and the starting weights. Run here, after training/setup.sh, from the
# repository root:  bash training/device/bundle.sh V6w.pt /work/corpus /work/corpus-band
# (OPL3's SoundFont, 135 MB, is over the machine's 64 MiB transfer limit: its songs are skipped.)
set -euo pipefail
init=$1; shift
D=.dev
rm -rf $D && mkdir -p $D/fs/lib $D/sf2 $D/whl $D/models
cp "$(command -v fluidsynth)" $D/fs/fluidsynth.bin
# every shared library but the C/C++ runtimes, which the machine has in newer versions
for lib in $(ldd "$(command -v fluidsynth)" | awk '/=>/ {print $3}'); do
  case $(basename "$lib") in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libstdc++*|libgcc_s*) ;;
    *) cp -L "$lib" $D/fs/lib/ ;;
  esac
done
(cd $D && tar -cJf fs.tar.xz fs && rm -rf fs)
# the listed packages' files, found by their packages and checked against the digests Debian
# ships (training.soundfonts.SHIPPED_SHA256)
python3 -c "from pathlib import Path; from training.soundfonts import write_bundle
write_bundle(['timgm6mb', 'csound'], Path('$D/sf2'))"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d $D/whl soundfile==0.13.1 cffi==2.0.0 pycparser
for t in mtat jamendo; do
  mkdir -p $D/models/taggers/$t/fcn && cp ../shared/models/taggers/$t/fcn/best_model.pth $D/models/taggers/$t/fcn/
done
cp "$init" $D/init.pt
for c in "$@"; do cp "$c/corpus.json" "$D/$(basename "$c").json"; done
cp training/device/run.sh training/device/devrun.py $D/
du -sh $D
