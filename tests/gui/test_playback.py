"""The playback engine's callback logic, driven directly without an audio device."""

from __future__ import annotations

import numpy as np
import pytest

from tagbox_gui.core.types import Region
from tagbox_gui.gui import playback_render
from tagbox_gui.gui.playback import SWITCH_FADE_S, Player
from tests.gui.fake_engine import FakeSoundDevice, FakeStream

RATE = 1000


def ramp(frames: int, channels: int = 2, offset: float = 0.0) -> np.ndarray:
    """Each frame holds its own index (+offset) so copied positions can be read back."""
    col = np.arange(frames, dtype=np.float32) + offset
    return np.repeat(col[:, None], channels, axis=1)


@pytest.fixture
def player() -> Player:
    streams: list[FakeStream] = []

    def factory(rate, channels, callback):
        streams.append(FakeStream(rate, channels, callback))
        return streams[-1]

    p = Player(stream_factory=factory)
    p.streams = streams  # type: ignore[attr-defined]
    p.load({"mix": ramp(1000), "separated": ramp(1000, offset=10_000)}, RATE)
    return p


def pull(player: Player, frames: int, channels: int = 2) -> np.ndarray:
    out = np.full((frames, channels), np.nan, dtype=np.float32)
    player.callback(out, frames, None, None)
    return out


def test_callback_copies_and_position_advances(player: Player) -> None:
    player.play()
    assert player.playing and player.streams[0].active
    assert (player.streams[0].rate, player.streams[0].channels) == (RATE, 2)
    out = pull(player, 100)
    np.testing.assert_array_equal(out[:, 0], np.arange(100))
    np.testing.assert_array_equal(out[:, 1], np.arange(100))
    assert player.position == pytest.approx(0.1)
    out = pull(player, 50)
    np.testing.assert_array_equal(out[:, 0], np.arange(100, 150))
    assert player.position == pytest.approx(0.15)


def test_paused_outputs_silence_and_keeps_position(player: Player) -> None:
    player.play()
    pull(player, 200)
    player.pause()
    assert not player.playing and not player.streams[0].active
    out = pull(player, 64)
    assert not out.any()
    assert player.position == pytest.approx(0.2)


def test_switching_source_keeps_position(player: Player) -> None:
    fade = round(SWITCH_FADE_S * RATE)  # the frames past the switch that blend both
    player.play()
    pull(player, 300)
    player.set_source("separated")
    out = pull(player, fade + 10)
    np.testing.assert_array_equal(out[fade:, 0], np.arange(300 + fade, 310 + fade) + 10_000)
    player.set_source("mix")
    out = pull(player, fade + 10)
    np.testing.assert_array_equal(out[fade:, 0], np.arange(310 + 2 * fade, 320 + 2 * fade))
    with pytest.raises(KeyError):
        player.set_source("nope")


def test_switching_source_while_playing_crossfades_without_a_click(player: Player) -> None:
    """Mix (frame i holds i) to separated (i + 10 000) at frame 300: a hard switch would jump
    by 10 000 from one frame to the next (a click); the fade ramps over SWITCH_FADE_S."""
    fade = round(SWITCH_FADE_S * RATE)
    player.play()
    before = pull(player, 300)[:, 0]
    player.set_source("separated")
    after = pull(player, 2 * fade)[:, 0]
    heard = np.concatenate([before, after])
    assert np.abs(np.diff(heard)).max() <= 10_000 / fade + 1
    np.testing.assert_allclose(after[:fade], np.arange(300, 300 + fade) + 10_000 * np.arange(
        1, fade + 1) / fade, rtol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(after[fade:], np.arange(300 + fade, 300 + 2 * fade) + 10_000)


def test_new_material_for_the_source_heard_is_crossfaded_too(player: Player) -> None:
    """A newer preview swapped in while it plays (replace) fades in like a switch."""
    fade = round(SWITCH_FADE_S * RATE)
    player.play()
    before = pull(player, 100)[:, 0]
    player.replace("mix", ramp(1000, offset=5_000))
    after = pull(player, 2 * fade)[:, 0]
    assert np.abs(np.diff(np.concatenate([before, after]))).max() <= 5_000 / fade + 1
    np.testing.assert_array_equal(after[fade:], np.arange(100 + fade, 100 + 2 * fade) + 5_000)


def test_a_source_chosen_while_paused_plays_from_its_first_frame(player: Player) -> None:
    """Nothing sounded before: no fade from the source that was chosen before."""
    player.play()
    pull(player, 100)
    player.pause()
    player.set_source("separated")
    player.play()
    np.testing.assert_array_equal(pull(player, 5)[:, 0], np.arange(100, 105) + 10_000)


def test_silence_past_the_end_and_stop(player: Player) -> None:
    player.seek(0.95)
    player.play()
    out = pull(player, 100)
    np.testing.assert_array_equal(out[:50, 0], np.arange(950, 1000))
    assert not out[50:].any()
    assert not player.playing
    assert player.position == pytest.approx(1.0)
    assert not pull(player, 10).any()
    player.play()  # at the end: starts over
    assert player.playing and player.position == 0.0
    np.testing.assert_array_equal(pull(player, 5)[:, 0], np.arange(5))


def test_the_second_play_through_plays_out_the_device_latency_too() -> None:
    """The silence counted past the end starts over each time: with the end on a block
    boundary, the second play-through does not stop at its first silent block, which would
    drop what the device still holds (its latency) of the song's last notes."""

    class LatentStream(FakeStream):
        latency = 0.3  # 300 frames at RATE

    p = Player(stream_factory=LatentStream)
    p.load({"mix": ramp(1000)}, RATE)
    for _ in range(2):
        p.play()
        stream = p._stream
        for _ in range(10):
            assert stream.pull(100).any()
        assert p.position == pytest.approx(0.7)  # the last 300 frames not heard yet
        for _ in range(3):  # 300 frames of silence: what the device buffers
            assert not stream.pull(100).any()
            assert p.playing
        assert p.position == pytest.approx(1.0)
        stream.pull(100)
        assert not p.playing
        p.pause()  # what the transport does once it sees the end


def test_loop_wraps_inside_one_block(player: Player) -> None:
    player.set_loop(Region(0.2, 0.25))  # frames 200..250, outside -> jumps to the start
    assert player.position == pytest.approx(0.2)
    assert player.loop == Region(0.2, 0.25)
    player.play()
    out = pull(player, 120)
    expected = np.concatenate([np.arange(200, 250)] * 2 + [np.arange(200, 220)])
    np.testing.assert_array_equal(out[:, 0], expected)
    assert player.playing
    assert player.position == pytest.approx(0.22)
    player.set_loop(None)
    out = pull(player, 40)
    np.testing.assert_array_equal(out[:, 0], np.arange(220, 260))


def test_a_seek_before_the_loop_plays_on_into_it(player: Player) -> None:
    """As in a DAW: a seek outside the loop plays from there, not from the loop's start."""
    player.set_loop(Region(0.2, 0.25))
    player.play()
    player.seek(0.18)  # a bar before the loop, say
    out = pull(player, 90)
    expected = np.concatenate([np.arange(180, 250), np.arange(200, 220)])
    np.testing.assert_array_equal(out[:, 0], expected)
    assert player.loop == Region(0.2, 0.25)


def test_a_seek_after_the_loop_plays_on_to_the_end(player: Player) -> None:
    player.set_loop(Region(0.2, 0.25))
    player.pause()
    player.seek(0.9)  # while paused: the next Play starts there
    player.play()
    out = pull(player, 50)
    np.testing.assert_array_equal(out[:, 0], np.arange(900, 950))
    pull(player, 100)  # past the end: silence, and the player stops
    assert not player.playing and player.position == pytest.approx(1.0)
    player.pause()
    player.play()  # at the end: from the loop's start again
    np.testing.assert_array_equal(pull(player, 60)[:, 0], [*range(200, 250), *range(200, 210)])


def test_seek_while_playing_applies_on_next_callback(player: Player) -> None:
    player.play()
    pull(player, 10)
    player.seek(0.5)
    assert player.position == pytest.approx(0.5)  # pending seek already reported
    fade = round(SWITCH_FADE_S * RATE)  # faded in over the old position's material first
    out = pull(player, fade + 10)
    np.testing.assert_array_equal(out[fade:, 0], np.arange(500 + fade, 510 + fade))
    player.seek(99.0)  # clamped to the end
    assert player.position == pytest.approx(1.0)


def test_a_seek_while_playing_crossfades_without_a_click(player: Player) -> None:
    """From frame 300 to 700 (frame i holds i): a hard jump is a step of 400 from one frame to
    the next; the old position's material fades out as the new one's fades in."""
    fade = round(SWITCH_FADE_S * RATE)
    player.play()
    before = pull(player, 300)[:, 0]
    player.seek(0.7)
    after = pull(player, 2 * fade)[:, 0]
    assert np.abs(np.diff(np.concatenate([before, after]))).max() <= 400 / fade + 1
    gains = np.arange(1, fade + 1) / fade
    old, new = np.arange(300, 300 + fade), np.arange(700, 700 + fade)
    np.testing.assert_allclose(after[:fade], old + (new - old) * gains, rtol=1e-6)
    np.testing.assert_array_equal(after[fade:], np.arange(700 + fade, 700 + 2 * fade))


def test_a_seek_to_the_very_end_while_playing_fades_out_without_a_click(player: Player) -> None:
    """A click at the end of the waveform while frame 300 plays: nothing of the new material
    sounds, and the old fades out into the silence rather than stopping dead."""
    fade = round(SWITCH_FADE_S * RATE)
    player.play()
    pull(player, 300)
    player.seek(1.0)
    after = pull(player, 2 * fade)[:, 0]
    old, gains = np.arange(300, 300 + fade), np.arange(1, fade + 1) / fade
    np.testing.assert_allclose(after[:fade], old * (1 - gains), rtol=1e-6, atol=1e-3)
    assert not after[fade:].any()
    assert player.position == pytest.approx(1.0)


def test_a_seek_faded_over_several_blocks_fades_out_the_old_material_in_order(
    player: Player,
) -> None:
    """Blocks shorter than the fade: the old material goes on from where it was, and past its
    end it fades out from silence."""
    fade = round(SWITCH_FADE_S * RATE)
    player.seek(0.995)  # 5 frames before the end
    player.play()
    pull(player, 2)
    player.seek(0.1)
    after = np.concatenate([pull(player, 3)[:, 0] for _ in range(4)])[:fade]
    old = np.concatenate([np.arange(997, 1000), np.zeros(fade - 3)])
    new, gains = np.arange(100, 100 + fade), np.arange(1, fade + 1) / fade
    np.testing.assert_allclose(after, old + (new - old) * gains, rtol=1e-6)


def test_a_seek_being_applied_reads_as_done_from_the_gui_thread(
    player: Player, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GUI thread reads the position while the callback writes its block (another thread):
    a seek the callback has taken but not yet finished reads as the seek, not as the position
    before it (the playhead would flick back, and a run's audio outside its region reload)."""
    from tagbox_gui.gui import playback

    seen: list[float] = []

    def render_read_by_the_gui(*args):  # type: ignore[no-untyped-def]
        seen.append(player.position)  # the GUI's poll, between the callback's steps
        return playback_render.render(*args)

    monkeypatch.setattr(playback, "render", render_read_by_the_gui)
    player.play()
    pull(player, 100)
    player.seek(0.6)
    pull(player, 10)
    assert seen[-1] == pytest.approx(0.6)
    assert player.position == pytest.approx(0.61)


def test_load_at_another_rate_keeps_the_position_in_seconds(player: Player) -> None:
    player.seek(0.4)  # 400 frames at RATE
    player.load({"mix": ramp(3000)}, 2 * RATE)  # e.g. the song's 48 kHz after 44.1 kHz
    assert player.position == pytest.approx(0.4)
    player.play()
    pull(player, 10)
    player.seek(0.6)  # pending: the callback has not run since
    player.load({"mix": ramp(1000)}, RATE)
    assert player.position == pytest.approx(0.6)
    player.play()
    np.testing.assert_array_equal(pull(player, 3)[:, 0], [600, 601, 602])


def test_replace_swaps_current_source_atomically(player: Player) -> None:
    player.set_source("separated")
    player.play()
    pull(player, 100)
    new = ramp(1000, offset=50_000)
    player.replace("separated", new)
    new[:] = -1  # the player holds its own copy
    fade = round(SWITCH_FADE_S * RATE)  # faded in over the old material first
    out = pull(player, fade + 10)
    np.testing.assert_array_equal(out[fade:, 0], np.arange(100 + fade, 110 + fade) + 50_000)


def test_shorter_mono_source_is_widened_and_padded(player: Player) -> None:
    player.replace("residual", np.ones(500, dtype=np.float32))
    player.set_source("residual")
    player.seek(0.49)
    player.play()
    out = pull(player, 20)
    np.testing.assert_array_equal(out[:10], np.ones((10, 2)))
    assert not out[10:].any()
    assert player.playing  # the longest source (1 s) decides where the end is


def test_device_channel_limit_folds_to_mono() -> None:
    made = []
    p = Player(
        stream_factory=lambda r, c, cb: made.append(FakeStream(r, c, cb)) or made[-1],
        max_channels=1,
    )
    stereo = np.stack([np.zeros(10), np.ones(10)], axis=1).astype(np.float32)
    p.load({"mix": stereo}, 8000)
    p.play()
    out = np.zeros((4, 1), dtype=np.float32)
    p.callback(out, 4, None, None)
    assert made[0].channels == 1
    np.testing.assert_allclose(out[:, 0], 0.5)


def test_load_closes_the_old_stream(player: Player) -> None:
    player.play()
    player.load({"mix": ramp(10)}, RATE)
    assert player.streams[0].closed
    assert player.source == "mix" and player.duration == pytest.approx(0.01)


def test_unavailable_player_is_a_safe_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    from tagbox_gui.gui import output_device

    monkeypatch.setattr(output_device, "_sd", FakeSoundDevice(channels=0))
    p = Player()
    reason = "Playback is off because no audio output device was found."
    assert not p.available and p.unavailable_reason == reason
    assert p.can_try  # PortAudio is there: a device may be plugged in later
    p.load({"mix": ramp(1000)}, RATE)
    p.play()
    assert not p.playing and p.unavailable_reason == reason
    p.toggle()
    p.seek(0.3)
    assert p.position == pytest.approx(0.3)
    p.set_loop(Region(0.5, 0.7))
    assert p.position == pytest.approx(0.5)
    p.pause()
    p.close()


def test_without_portaudio_play_is_never_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    from tagbox_gui.gui import output_device

    monkeypatch.setattr(output_device, "_sd", None)
    p = Player()
    assert not p.available and not p.can_try and "PortAudio" in p.unavailable_reason
    p.load({"mix": ramp(1000)}, RATE)
    p.play()
    assert not p.playing


def test_a_device_plugged_in_after_the_start_plays_on_the_next_play(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No output at the start; headphones plugged in: Play lists the devices anew and plays."""
    from tagbox_gui.gui import output_device

    sound = FakeSoundDevice(channels=0)
    monkeypatch.setattr(output_device, "_sd", sound)
    p = Player()
    p.load({"mix": ramp(1000)}, RATE)
    p.seek(0.25)
    p.play()  # still nothing: the reason stays
    assert not p.playing and "no audio output device" in p.unavailable_reason
    assert sound.initializations == 1
    sound.channels = 2  # plugged in; PortAudio does not see it before it is initialized again
    p.play()
    assert sound.initializations == 2
    assert p.playing and p.available and p.unavailable_reason == ""
    stream = sound.streams[-1]
    assert (stream.rate, stream.channels) == (RATE, 2)
    np.testing.assert_array_equal(stream.pull(3)[:, 0], [250, 251, 252])
    p.pause()
    p.play()  # working again: no more re-listing of the devices
    assert p.playing and sound.initializations == 2
    p.close()


def test_a_busy_device_is_tried_again_on_the_next_play(monkeypatch: pytest.MonkeyPatch) -> None:
    from tagbox_gui.gui import output_device

    sound = FakeSoundDevice(channels=2)
    sound.busy = 2
    monkeypatch.setattr(output_device, "_sd", sound)
    p = Player()
    assert p.available
    p.load({"mix": ramp(1000)}, RATE)
    for _ in range(2):
        p.play()
        assert not p.playing and p.can_try and not p.available
        assert p.unavailable_reason == (
            "Playback is off because the output device failed: "
            "Device unavailable [PaErrorCode -9985]."
        )
        assert sound.streams[-1].closed
    p.play()  # the other program let go of it
    assert p.playing and p.available and sound.streams[-1].active
    assert sound.initializations == 2  # each retry listed the devices anew
    p.close()


def test_a_smaller_device_found_on_a_retry_gets_the_song_folded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loaded while no device was there (no channel limit known), played on a mono one."""
    from tagbox_gui.gui import output_device

    sound = FakeSoundDevice(channels=0)
    monkeypatch.setattr(output_device, "_sd", sound)
    p = Player()
    stereo = np.stack([np.zeros(10), np.ones(10)], axis=1).astype(np.float32)
    p.load({"mix": stereo, "separated": stereo}, 8000)
    sound.channels = 1
    p.play()
    assert p.playing and sound.streams[-1].channels == 1
    np.testing.assert_allclose(sound.streams[-1].pull(4)[:, 0], 0.5)
    p.set_source("separated")
    np.testing.assert_allclose(sound.streams[-1].pull(4)[:, 0], 0.5)
    p.close()


def test_a_stream_aborted_while_playing_is_replaced_on_the_next_play(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The device went away mid-play (PortAudio aborts the stream): the player says so, and
    the next Play opens a new stream on the default output as listed then."""
    from tagbox_gui.gui import output_device

    sound = FakeSoundDevice(channels=2)
    monkeypatch.setattr(output_device, "_sd", sound)
    p = Player()
    p.load({"mix": ramp(1000)}, RATE)
    p.play()
    first = sound.streams[-1]
    first.pull(100)
    first.active = False  # aborted by PortAudio
    assert not p.playing
    p.pause()  # what the transport does once it sees playing end
    assert first.closed
    assert p.unavailable_reason == "Playback is off because the output stopped while playing."
    p.play()
    assert p.playing and p.unavailable_reason == ""
    second = sound.streams[-1]
    assert second is not first and second.active
    assert sound.initializations == 1
    np.testing.assert_array_equal(second.pull(2)[:, 0], [100, 101])  # where it stopped
    second.active = False  # aborted again; this time Play is pressed before any pause
    p.toggle()
    assert p.playing and sound.streams[-1].active and second.closed
    p.close()


def test_default_probe_explains_itself() -> None:
    p = Player()  # this machine may or may not have an output device
    if p.available:
        assert p.unavailable_reason == ""
    else:
        assert p.unavailable_reason.startswith("Playback is off because")
        assert p.unavailable_reason.endswith(".")


class LatentStream(FakeStream):
    """An output that holds 100 ms (100 frames at RATE) before they are heard."""

    latency = 0.1


@pytest.fixture
def latent() -> Player:
    p = Player(stream_factory=LatentStream)
    p.load({"mix": ramp(1000), "separated": ramp(1000, offset=10_000)}, RATE)
    return p


def test_the_position_while_playing_is_what_is_heard_not_what_was_written(
    latent: Player,
) -> None:
    """The device plays a frame its latency after the callback wrote it: the playhead shows
    that frame, never one before where playing started; paused, where the sound stopped."""
    latent.seek(0.3)
    latent.play()
    pull(latent, 50)  # written up to 0.35; nothing of it heard yet
    assert latent.position == pytest.approx(0.3)
    pull(latent, 100)
    assert latent.position == pytest.approx(0.35)
    latent.pause()  # stopping plays out what the device holds: heard up to what was written
    assert latent.position == pytest.approx(0.45)
    latent.play()
    pull(latent, 60)
    assert latent.position == pytest.approx(0.45)


def test_the_heard_position_follows_the_loop_back_across_a_wrap(latent: Player) -> None:
    latent.set_loop(Region(0.2, 0.35))
    latent.play()
    pull(latent, 170)  # written: 200..350, then 200..220
    assert latent.position == pytest.approx(0.27)  # heard: frame 270, not 120
    pull(latent, 40)
    assert latent.position == pytest.approx(0.31)
    latent.set_loop(Region(0.2, 0.45))  # a longer loop while playing, after wraps of the old
    pull(latent, 50)  # written: 260..310; heard: still the old loop, back to its start
    assert latent.position == pytest.approx(0.21)
    pull(latent, 150)  # written: 310..450, 200..210; heard: on from 260 in the new loop
    assert latent.position == pytest.approx(0.36)


def test_right_after_a_seek_the_position_is_the_seek_target(latent: Player) -> None:
    """The device still plays what it held from before the seek: that is not shown."""
    latent.play()
    pull(latent, 300)
    latent.seek(0.7)
    pull(latent, 10)
    assert latent.position == pytest.approx(0.7)
    pull(latent, 150)
    assert latent.position == pytest.approx(0.76)
