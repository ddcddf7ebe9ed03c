"""The fault-injection box, simulated: the frames of instruments/dbc/wbr_fault_box.dbc on the
virtual lab's CAN bus, acting on the plant (a residual current drawn from the output, weld
bridges, PE, the DUT's temperature sensor, the chamber, the grid operator's contact)."""

from __future__ import annotations

from typing import Any

import cantools

from instruments.dbc import fault_box_dbc
from sim.plant import Plant
from sim.socketcand import CanNode
from sim.world import World

PROTOCOL = (1, 0)
SERIAL = 1
OK, OUT_OF_RANGE, UNKNOWN = 0, 1, 2
FLOWING, INTERRUPTED = 1, 2
CHANNELS = ("ac", "dc")


class SimFaultBox(CanNode):
    name = "fault_box"

    def __init__(self, world: World, plant: Plant) -> None:
        super().__init__(world)
        self.plant = plant
        self.db = fault_box_dbc()
        self._commanding = False
        self._flowing = {ch: 0.0 for ch in CHANNELS}
        plant.listen(self._watch)

    def _out(self, message: str, **signals: Any) -> None:
        msg = self.db.get_message_by_name(message)
        self.send(msg.frame_id, msg.encode(signals))

    def _watch(self) -> None:
        """Report a residual current that starts or stops flowing without a command (the DUT acted)."""
        for index, channel in enumerate(CHANNELS):
            now = self.plant.residual_flowing_ma(channel)
            before, self._flowing[channel] = self._flowing[channel], now
            if self._commanding or (now > 0) == (before > 0):
                continue
            self.world.record("fault_box_event", channel=channel, flowing_ma=now)
            self._out("FB_Event", Kind=FLOWING if now > 0 else INTERRUPTED, Channel=index,
                      Current=now if now > 0 else before, Time=self.world.now)

    def receive(self, arbitration_id: int, data: bytes) -> None:
        try:
            msg = self.db.get_message_by_frame_id(arbitration_id)
        except KeyError:
            return  # not for this node
        if msg.senders != ["RIG"]:
            return
        try:
            signals = msg.decode(data, decode_choices=False)
        except (cantools.database.DecodeError, ValueError):
            self._out("FB_Ack", Seq=data[0] if data else 0, Status=OUT_OF_RANGE, Time=self.world.now)
            return
        seq = int(signals["Seq"])
        if msg.name == "FB_Identify":
            self._out("FB_Ident", Seq=seq, ProtocolMajor=PROTOCOL[0], ProtocolMinor=PROTOCOL[1], Serial=SERIAL)
            return
        if msg.name == "FB_Query":
            self._readback(seq)
            return
        self._commanding = True
        try:
            status = self._apply(msg.name, signals)
            self.plant.changed()
        finally:
            self._commanding = False
            self._watch()  # take the commanded flow as the new reference, without an event
        self._out("FB_Ack", Seq=seq, Status=status, Time=self.world.now)

    def _apply(self, name: str, s: dict[str, Any]) -> int:
        inj = self.plant.injection
        if name == "FB_Safe":
            inj.residual_ma = {ch: 0.0 for ch in CHANNELS}
            inj.weld = [False, False, False]
            inj.pe_open = False
            inj.sensor_override_c = inj.chamber_c = None
            inj.grid_contact = (False, False)
        elif name in ("FB_ResidualAc", "FB_ResidualDc"):
            inj.residual_ma["ac" if name == "FB_ResidualAc" else "dc"] = float(s["Current"])
        elif name == "FB_Weld":
            inj.weld = [bool(s["L1"]), bool(s["L2"]), bool(s["L3"])]
        elif name == "FB_PeOpen":
            inj.pe_open = bool(s["Open"])
        elif name == "FB_Temperature":
            mode, celsius = int(s["Mode"]), float(s["Temperature"])
            if mode not in (0, 1, 2):
                return OUT_OF_RANGE
            inj.sensor_override_c = celsius if mode == 1 else None
            inj.chamber_c = celsius if mode == 2 else None
        elif name == "FB_GridContact":
            inj.grid_contact = (bool(s["PS1"]), bool(s["PS2"]))
        else:
            return UNKNOWN
        self.world.record("fault_box", command=name, **{k: v for k, v in s.items() if k != "Seq"})
        return OK

    def _readback(self, seq: int) -> None:
        inj = self.plant.injection
        mode = 1 if inj.sensor_override_c is not None else 2 if inj.chamber_c is not None else 0
        temperature = inj.sensor_override_c if mode == 1 else inj.chamber_c if mode == 2 else 0.0
        self._out("FB_Readback", Seq=seq, AcFlowing=self.plant.residual_flowing_ma("ac"),
                  DcFlowing=self.plant.residual_flowing_ma("dc"), Temperature=temperature,
                  WeldL1=int(inj.weld[0]), WeldL2=int(inj.weld[1]), WeldL3=int(inj.weld[2]),
                  PeOpen=int(inj.pe_open), PS1=int(inj.grid_contact[0]), PS2=int(inj.grid_contact[1]), Mode=mode)
