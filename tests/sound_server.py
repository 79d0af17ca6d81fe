"""A private PulseAudio server with a null sink, for tests that play through PortAudio for real.

No sound hardware is needed: PulseAudio's null sink is clocked by the system timer, and its
monitor source hands back exactly what was played into it. PortAudio (19.6 on Debian has no
PulseAudio host API) reaches the server through ALSA's pulse plugin: a small ALSA
configuration, named by ``ALSA_CONFIG_PATH`` after the system's own ``alsa.conf``, makes the
ALSA ``default`` device a stream to the null sink, and ``PULSE_SERVER`` points the plugin at
the private server's socket. Everything the server writes (socket, cookie, state) lives in
one folder, so it neither needs nor touches a user session, and it runs as root too.

The sink, its monitor and every stream use float32 at 44.1 kHz in stereo, so nothing is
converted or resampled on the way: what comes out of the monitor is bit for bit what was
played (a mono stream is only copied onto both channels).

:func:`running` starts the server and points PortAudio's default output at it;
:meth:`SoundServer.record` records the sink's monitor with ``parec``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

SINK = "tagbox_null"
RATE = 44_100
CHANNELS = 2
SAMPLE_FORMAT = "float32le"
ALSA_CONF = Path("/usr/share/alsa/alsa.conf")
START_TIMEOUT_S = 10.0


class SoundServerError(RuntimeError):
    """The PulseAudio test server could not be started or used."""


@dataclass(frozen=True)
class SoundServer:
    """A running private PulseAudio server (see :func:`running`)."""

    root: Path
    process: subprocess.Popen[bytes]
    client_env: dict[str, str]

    @property
    def monitor(self) -> str:
        """The name of the null sink's monitor source."""
        return f"{SINK}.monitor"

    @contextlib.contextmanager
    def record(self, path: Path) -> Iterator[Recording]:
        """Record the sink's monitor (raw float32 stereo at ``RATE``) into ``path``.

        Returns once data is flowing; on leaving, ``parec`` is stopped and the samples are
        read into the yielded :class:`Recording`.
        """
        command = [
            "parec",
            f"--device={self.monitor}",
            "--raw",
            f"--format={SAMPLE_FORMAT}",
            f"--rate={RATE}",
            f"--channels={CHANNELS}",
            "--latency-msec=20",
        ]
        recording = Recording(path)
        with path.open("wb") as out:
            parec = _spawn(command, env=self.client_env, stdout=out)
            try:
                _wait_for(
                    lambda: path.stat().st_size > 0 or parec.poll() is not None,
                    "parec to deliver the monitor's first samples",
                )
                if parec.poll() is not None:
                    raise SoundServerError(f"parec exited with status {parec.returncode}")
                yield recording
                time.sleep(0.1)  # the last 20 ms fragment reaches the file
            finally:
                _stop(parec)
        recording.load()


class Recording:
    """Samples recorded from the monitor: ``frames`` is ``(n, CHANNELS)`` float32."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames = np.zeros((0, CHANNELS), dtype=np.float32)

    def load(self) -> None:
        """Read what ``parec`` wrote (whole frames only)."""
        raw = np.fromfile(self.path, dtype="<f4")
        whole = raw.size - raw.size % CHANNELS
        self.frames = raw[:whole].reshape(-1, CHANNELS).astype(np.float32)


@contextlib.contextmanager
def running(root: Path) -> Iterator[SoundServer]:
    """Start a private PulseAudio server in ``root`` and make it PortAudio's default output.

    The environment of this process is pointed at the server and PortAudio re-scans its
    devices; on leaving, the environment is restored, PortAudio re-scans again (later tests
    see the machine as it was) and the server is stopped.
    """
    import sounddevice as sd

    for tool in ("pulseaudio", "parec"):
        if shutil.which(tool) is None:
            raise SoundServerError(
                f"{tool} is not installed; scripts/setup.sh installs pulseaudio, "
                "pulseaudio-utils and libasound2-plugins"
            )
    if not ALSA_CONF.exists():
        raise SoundServerError(f"ALSA's configuration {ALSA_CONF} is missing (libasound2-data)")
    root.mkdir(parents=True, exist_ok=True)
    home, runtime, socket = root / "home", root / "runtime", root / "native"
    home.mkdir(exist_ok=True)
    runtime.mkdir(mode=0o700, exist_ok=True)
    script = root / "server.pa"
    # The sink first: once the socket exists, the sink does too. norewinds: the monitor
    # cannot take back what it already recorded, so a rewind of the sink would blank the
    # start of a new stream in the recording (the played sound is unaffected).
    script.write_text(
        f"load-module module-null-sink sink_name={SINK} format={SAMPLE_FORMAT} rate={RATE} "
        f"channels={CHANNELS} norewinds=1\n"
        f"set-default-sink {SINK}\n"
        f"load-module module-native-protocol-unix socket={socket} auth-anonymous=1\n"
    )
    client_conf = root / "client.conf"
    client_conf.write_text(f"autospawn = no\ncookie-file = {root / 'cookie'}\n")
    alsa_conf = root / "asound.conf"
    alsa_conf.write_text(
        f'pcm.!default {{\n  type pulse\n  device "{SINK}"\n}}\nctl.!default {{\n  type pulse\n}}\n'
    )
    server_env = dict(
        os.environ,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_RUNTIME_DIR=str(runtime),
        PULSE_RUNTIME_PATH=str(runtime),
        PULSE_STATE_PATH=str(home / "state"),
    )
    command = [
        "pulseaudio",
        "-n",  # no default script: only what server.pa loads
        f"--file={script}",
        "--daemonize=no",
        "--exit-idle-time=-1",
        "--use-pid-file=no",
        "--realtime=no",
        "--high-priority=no",
        "--disable-shm=yes",
        "--log-target=stderr",
        "--log-level=error",
    ]
    log = (root / "pulseaudio.log").open("wb")
    server = _spawn(command, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(
            lambda: socket.exists() or server.poll() is not None, "pulseaudio to open its socket"
        )
        if server.poll() is not None:
            log.flush()
            text = (root / "pulseaudio.log").read_text(errors="replace").strip()
            raise SoundServerError(f"pulseaudio exited with status {server.returncode}: {text}")
        client_env = {
            "PULSE_SERVER": f"unix:{socket}",
            "PULSE_SINK": SINK,
            "PULSE_CLIENTCONFIG": str(client_conf),
            "ALSA_CONFIG_PATH": f"{ALSA_CONF}:{alsa_conf}",
        }
        devices_before = _device_names(sd)
        with pytest.MonkeyPatch.context() as patch:
            for name, value in client_env.items():
                patch.setenv(name, value)
            _rescan(sd)  # PortAudio enumerated the devices when sounddevice was imported
            try:
                yield SoundServer(root, server, dict(os.environ))
            finally:
                # Before the server goes, so that PortAudio holds nothing of it any more.
                patch.undo()
                _rescan(sd)
                if _device_names(sd) != devices_before:
                    raise SoundServerError(
                        "PortAudio still lists the test server's devices after the test: "
                        f"{_device_names(sd)} instead of {devices_before}"
                    )
    finally:
        _stop(server)
        log.close()


def _rescan(sd: ModuleType) -> None:
    """Make PortAudio enumerate the devices again under the current environment."""
    sd._terminate()
    sd._initialize()


def _device_names(sd: ModuleType) -> list[str]:
    """The names of the devices PortAudio lists now."""
    return [device["name"] for device in sd.query_devices()]


def _spawn(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``command``; where setpriv exists, it dies with this process (e.g. on a crash)."""
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        command = [setpriv, "--pdeathsig", "TERM", *command]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, **kwargs)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` and reap it (killing it if it does not exit within 5 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until true; raise after ``START_TIMEOUT_S`` seconds."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise SoundServerError(f"timed out after {START_TIMEOUT_S:.0f} s waiting for {what}")
        time.sleep(0.01)
