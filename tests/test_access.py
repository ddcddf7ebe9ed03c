"""The card, buzzer and button roles: byte-exact exchanges of their drivers, the virtual lab's side
of them, and what a rig file may say about them.

Sources of the scripts:
- ChameleonUltra: RfidResearchGroup/ChameleonUltra docs/protocol.md, "Packets format" (SOF 0x11,
  LRC1 0xEF, CMD / STATUS / LEN as big-endian u16, LRC2 over them, DATA, LRC3 over DATA; an LRC makes
  the byte sum 0), and its command list (software/script/chameleon_enum.py: GET_APP_VERSION 1000,
  CHANGE_DEVICE_MODE 1001, SET_ACTIVE_SLOT 1003, SET_SLOT_TAG_TYPE 1004, SET_SLOT_DATA_DEFAULT 1005,
  SET_SLOT_ENABLE 1006, HF14A_SET_ANTI_COLL_DATA 4001; STATUS_DEVICE_SUCCESS 0x68, HF_TAG_OK 0x00;
  tag types MIFARE Classic 1K 1001, NTAG213 1100).  The packets below were worked out by hand from
  that text (the driver's own framing is not used to build them).
- DAQ970A Programming Reference, ROUTe subsystem (the carousel and the button's solenoid).
- docs/protocols/audio.md and docs/protocols/installer.md (v1.4): our own line protocols.
"""

from __future__ import annotations

import base64
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError, InstrumentOperationError, InstrumentTimeout, InvalidValue
from instruments.button import SwitchButton
from instruments.buzzer import WbrAudioBoard
from instruments.card import CardCarousel, ChameleonUltra, deck_from
from instruments.installer import WbrInstaller
from instruments.parts.wiring import parse_wiring
from instruments.switch import KeysightDaq970
from instruments.transport.scripted import ScriptedByteStream, expected_protocol
from rig.config import load_rig_file
from sim.rfid import RfidField, SimChameleon
from sim.world import World

SETTINGS = {"setup_card": "5E7C0A01", "cards": ["04A1B2C3", "04D4E5F6"], "foreign_card": "04A3B2C1D0E1F2"}
H = bytes.fromhex

GET_VERSION = H("11 ef 03 e8 00 00 00 00 15 00")
VERSION_2_0 = H("11 ef 03 e8 00 68 00 02 ab 02 00 fe")
PRESENT_1K_04A1B2C3 = [
    (H("11 ef 03 e9 00 00 00 01 13 00 00"), H("11 ef 03 e9 00 68 00 00 ac 00")),          # mode: tag emulator
    (H("11 ef 03 eb 00 00 00 01 11 07 f9"), H("11 ef 03 eb 00 68 00 00 aa 00")),          # active slot 7
    (H("11 ef 03 ec 00 00 00 03 0e 07 03 e9 0d"), H("11 ef 03 ec 00 68 00 00 a9 00")),    # slot 7: MIFARE 1K
    (H("11 ef 03 ed 00 00 00 03 0d 07 03 e9 0d"), H("11 ef 03 ed 00 68 00 00 a8 00")),    # its default data
    (H("11 ef 0f a1 00 00 00 09 47 04 04 a1 b2 c3 04 00 08 00 d6"),                        # UID, ATQA 0004, SAK 08
     H("11 ef 0f a1 00 68 00 00 e8 00")),
    (H("11 ef 03 ee 00 00 00 03 0c 07 02 01 f6"), H("11 ef 03 ee 00 68 00 00 a7 00")),    # slot 7 HF on
]
WITHDRAW = (H("11 ef 03 ee 00 00 00 03 0c 07 02 00 f7"), H("11 ef 03 ee 00 68 00 00 a7 00"))


def chameleon(steps: list[tuple[bytes, bytes]]) -> tuple[ChameleonUltra, ScriptedByteStream]:
    stream = ScriptedByteStream(steps, role="card")
    return ChameleonUltra(stream, SETTINGS), stream


def test_chameleon_identifies_presents_a_mifare_card_and_withdraws_it() -> None:
    card, stream = chameleon([(GET_VERSION, VERSION_2_0), *PRESENT_1K_04A1B2C3, WITHDRAW])
    assert card.identify() == "RfidResearchGroup ChameleonUltra, application v2.0"
    card.present(card.deck.cards[0])
    card.withdraw()
    stream.assert_consumed()


def test_chameleon_takes_the_last_card_away_before_presenting_the_next() -> None:
    card, stream = chameleon([*PRESENT_1K_04A1B2C3, WITHDRAW, *PRESENT_1K_04A1B2C3])
    card.present(card.deck.cards[0])
    card.present(card.deck.cards[0])
    stream.assert_consumed()


def test_chameleon_presents_the_foreign_card_as_an_ntag213() -> None:
    steps = [PRESENT_1K_04A1B2C3[0], PRESENT_1K_04A1B2C3[1],
             (H("11 ef 03 ec 00 00 00 03 0e 07 04 4c a9"), H("11 ef 03 ec 00 68 00 00 a9 00")),   # NTAG213 = 1100
             (H("11 ef 03 ed 00 00 00 03 0d 07 04 4c a9"), H("11 ef 03 ed 00 68 00 00 a8 00")),
             (H("11 ef 0f a1 00 00 00 0c 44 07 04 a3 b2 c1 d0 e1 f2 44 00 00 00 f8"),           # ATQA 0044, SAK 00
              H("11 ef 0f a1 00 68 00 00 e8 00")),
             PRESENT_1K_04A1B2C3[5]]
    card, stream = chameleon(steps)
    assert card.deck.foreign is not None
    card.present(card.deck.foreign)
    stream.assert_consumed()


def test_chameleon_refusals_and_broken_answers_are_the_instruments_not_the_duts() -> None:
    refused = H("11 ef 03 e9 00 67 00 00 ad 00")
    card, _ = chameleon([(PRESENT_1K_04A1B2C3[0][0], refused)])
    with pytest.raises(InstrumentOperationError, match="status 0x67"):
        card.present(card.deck.cards[0])
    bad_lrc = H("11 ef 03 e8 00 68 00 02 ab 02 00 ff")
    card, _ = chameleon([(GET_VERSION, bad_lrc)])
    with pytest.raises(InstrumentOperationError, match="LRC3"):
        card.identify()
    card, _ = chameleon([(GET_VERSION, VERSION_2_0[:5])])
    with pytest.raises(InstrumentTimeout):
        card.identify()


def test_the_virtual_labs_chameleon_answers_the_drivers_packets_and_fills_the_field() -> None:
    """Device side: whole packets answered, split ones kept for later, garbage and a bad LRC3 dropped."""
    world = World(1)
    field = RfidField(world)
    seen: list[object] = []
    field.listen(seen.append)
    device = SimChameleon(world, field)
    stream = b"".join(sent for sent, _ in PRESENT_1K_04A1B2C3)
    out, rest = device.feed(b"\x00\x42" + stream[:20])
    out2, rest = device.feed(rest + stream[20:])
    assert out + out2 == b"".join(answer for _, answer in PRESENT_1K_04A1B2C3) and rest == b""
    assert field.card is not None and field.card.uid == H("04a1b2c3") and field.card.sak == 0x08
    corrupted = WITHDRAW[0][:-1] + b"\x00"
    assert device.feed(corrupted) == (b"", b"")
    assert field.card is not None   # the corrupted disable did nothing
    assert device.feed(WITHDRAW[0])[0] == WITHDRAW[1]
    assert field.card is None and [c is None for c in seen] == [False, True]


def test_carousel_and_button_move_their_switch_channels_with_a_sync() -> None:
    wiring = parse_wiring({"channels": {"card_1": 126, "card_2": 127, "card_3": 128, "card_4": 129,
                                        "pairing_button": 125}})
    steps = [("ROUT:OPEN (@126,127,128,129)", None), ("*OPC?", "1"), ("ROUT:CLOS (@127)", None), ("*OPC?", "1"),
             ("ROUT:OPEN (@126,127,128,129)", None), ("*OPC?", "1"),
             ("ROUT:CLOS (@125)", None), ("*OPC?", "1"), ("ROUT:OPEN (@125)", None), ("*OPC?", "1")]
    with expected_protocol(steps) as t:
        daq = KeysightDaq970(t)
        carousel = CardCarousel.compose({"switch": daq}, wiring, SETTINGS)
        carousel.present(carousel.deck.cards[0])
        carousel.withdraw()
        button = SwitchButton.compose({"switch": daq}, wiring, {})
        button.press_down()
        button.release()


def test_a_carousel_needs_a_position_per_card() -> None:
    wiring = parse_wiring({"channels": {"card_1": 126, "card_2": 127}})
    with pytest.raises(InvalidValue, match="card_3"):
        CardCarousel.check_wiring(wiring, SETTINGS)


def test_the_audio_board_hands_over_its_clip() -> None:
    pcm = (np.array([0, 16384, -32768, 32767], dtype="<i2")).tobytes()
    steps = [("REC", "OK 10.000000"), ("STOP", "OK 12.000000"),
             ("CLIP?", f"16000,10.000000,{base64.b64encode(pcm).decode()}")]
    with expected_protocol(steps) as t:
        board = WbrAudioBoard(t)
        board.start()
        clip = board.stop()
    assert clip.rate == 16000 and clip.t0_s == 10.0
    assert clip.samples.tolist() == [0.0, 0.5, -1.0, pytest.approx(32767 / 32768)]
    with expected_protocol([("STOP", "OK 1.0"), ("CLIP?", "16000,0.0,@@@")]) as t:
        with pytest.raises(InstrumentOperationError, match="base64"):
            WbrAudioBoard(t).stop()
    # a STOP right after REC (a run interrupted there) ends an empty recording: no samples, no error
    with expected_protocol([("STOP", "OK 3.0"), ("CLIP?", "16000,3.000000,")]) as t:
        empty = WbrAudioBoard(t).stop()
    assert empty.samples.size == 0 and empty.t0_s == 3.0


def test_the_installer_switches_access_control_and_takes_a_new_setup_card() -> None:
    steps = [("ACCESS 1", "OK 1.000000"), ("ACCESS?", "1,2,1.000000"), ("SETUPCARD 04A1B2C3", "OK 1.000000")]
    with expected_protocol(steps) as t:
        installer = WbrInstaller(t)
        installer.set_access_control(True)
        assert installer.access_control() == (True, 2)
        installer.set_setup_card("04a1b2c3")
    with expected_protocol([]) as t, pytest.raises(InvalidValue):
        WbrInstaller(t).set_setup_card("04A1B2")     # refused before any I/O


def test_the_deck_refuses_one_uid_twice() -> None:
    with pytest.raises(InvalidValue, match="twice"):
        deck_from({"setup_card": "04A1B2C3", "cards": ["04A1B2C3"]})


@pytest.mark.parametrize("key, value, expected", [
    ("setup_card", '"04A1B2"', "4 or 7 bytes"),
    ("cards", '["04A1B2C3", "XYZ"]', "card UIDs"),
    ("foreign_card", "42", "NTAG213"),
])
def test_rig_check_names_a_bad_card_setting(tmp_path: Path, key: str, value: str, expected: str) -> None:
    text = (Path(__file__).resolve().parents[1] / "rigs" / "sim.toml").read_text()
    line = next(line for line in text.splitlines() if line.startswith(f"{key} ="))
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(line, f"{key} = {value}"))
    with pytest.raises(ConfigError) as info:
        load_rig_file(bad)
    assert f"instruments.card.{key}" in str(info.value) and expected in str(info.value)


def test_a_rig_without_a_setup_card_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[1] / "rigs" / "sim.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text("\n".join(line for line in text.splitlines() if not line.startswith("setup_card =")))
    with pytest.raises(ConfigError, match="setup_card"):
        load_rig_file(bad)


def test_a_recording_is_kept_as_a_wav_with_its_envelope(tmp_path: Path) -> None:
    from fixtures.evidence import Evidence
    from reports.allure_report import attach_evidence
    from sim.beeper import Room, render

    evidence = Evidence("tests::beep")
    samples = render("two short", Room(), rate=16_000)
    evidence.sound("setup card", samples, 16_000, "two short", [(0.5, 0.15), (0.8, 0.15)])
    attach_evidence(evidence, tmp_path, plots=True)
    with wave.open(str(tmp_path / "setup card.wav")) as clip:
        assert clip.getframerate() == 16_000 and clip.getnframes() == samples.size and clip.getsampwidth() == 2
    assert (tmp_path / "setup card.png").read_bytes()[:4] == b"\x89PNG"


def test_a_microphone_without_audio_input_is_an_init_error() -> None:
    from instruments.buzzer import Microphone
    try:
        import sounddevice  # noqa: F401
    except OSError:
        from core.errors import InstrumentInitError
        with pytest.raises(InstrumentInitError, match="no audio input"):
            Microphone("audio:default", {})
    else:
        pytest.skip("this machine has PortAudio: a real input may exist")


def test_a_presented_card_reaches_the_simulated_reader_end_to_end() -> None:
    """Driver → loopback → device → field → firmware: registration beeps on the lab's beeper."""
    from instruments.transport.byte_stream import open_byte_stream
    from sim.lab import VirtualLab

    lab = VirtualLab(seed=1, knobs={}, cards={"setup_card": "5E7C0A01", "carousel": []})
    try:
        with lab.world.lock:
            lab.frontends["source"].handle("OUTP ON")
        lab.world.advance(lab.knobs.dut.boot_time_s + 0.1)
        card = ChameleonUltra(open_byte_stream("card", lab.endpoints["card"], {}), SETTINGS)
        card.present(card.deck.setup)
        card.withdraw()
        assert [p for _, p in lab.wallbox.beeper.beeps] == ["short"]
        assert lab.wallbox.access.registering
        card.close()
    finally:
        lab.stop()


def test_struct_layout_of_the_ntag_tag_type_is_big_endian() -> None:
    assert struct.pack(">BH", 7, 1100) == H("07 04 4c")


def test_card_tap_holds_the_setup_card_and_says_what_the_beeper_answered(capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path) -> None:
    from cli.main import main

    clip = tmp_path / "tap.wav"
    assert main(["card", "tap", "setup", "--save", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "held the setup card (5E7C0A01, mifare-1k)" in out and "heard: short" in out
    with wave.open(str(clip)) as recording:
        assert recording.getnframes() > 0
    assert main(["card", "tap", "card9"]) == 2
    assert "no card 'card9'" in capsys.readouterr().err
