"""Role `button`: a solenoid on the DUT's pairing button (WB-CO-03), driven by a switch channel
(`[wiring.channels] pairing_button`: closed = pressed).

A press is judged by how long it was held, so `press_down` and `release` each return when the relay
has moved, and the test holds on the rig clock in between; the stamps it judges are the rig clock's
read after each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instruments.base import ComposedInstrument, Instrument


class Button(Instrument):
    role = "button"

    def press_down(self) -> None:
        """The button is held down when this returns."""
        raise NotImplementedError

    def release(self) -> None:
        """The button is up when this returns."""
        raise NotImplementedError

    def safe(self) -> None:
        self.release()


class SwitchButton(ComposedInstrument, Button):
    """The pairing button's solenoid on a channel of the rig's switch unit."""

    parts = ("switch",)
    wiring_functions = ("pairing_button",)

    @classmethod
    def compose(cls, parts: Mapping[str, Any], wiring: Any, settings: Mapping[str, Any]) -> SwitchButton:
        return cls(parts["switch"], wiring)

    def __init__(self, switch: Any, wiring: Any) -> None:
        self.check_wiring(wiring, {})
        self.role = "button"
        self.switch = switch
        self.channel = wiring.channel("pairing_button")

    def identify(self) -> str:
        return f"parts: switch channel {self.channel} (pairing button solenoid)"

    def press_down(self) -> None:
        self.switch.close_channels([self.channel])

    def release(self) -> None:
        self.switch.open_channels([self.channel])
