"""A script outside the test runner, on the rig's Python API: plug a vehicle in, charge at 10 A for a
minute of rig time, and print what the instruments saw.  It runs as it is on the virtual lab
(`python docs/examples/python-api/charge_and_measure.py`), and on a bench with its rig file and --live.

tests/test_python_api.py runs it, so this page cannot drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.types import Channel
from rig.config import DEFAULT_RIG
from rig.rig import READY_TIMEOUT_S, Rig, dut_idle


def main(rig_file: str | Path = DEFAULT_RIG, live: bool = False) -> int:
    # The rig opens every instrument of the rig file and reaches the safe state; leaving the `with`
    # block (normally, on an exception or Ctrl-C) reaches it again and closes them.
    with Rig.from_file(rig_file, live=live) as rig:
        rig.energise()                              # the supply on (a bench needs --live for this)
        if not rig.clock.wait_until(lambda: dut_idle(rig), READY_TIMEOUT_S, poll_s=0.25):
            print("the DUT did not reach A1", file=sys.stderr)
            return 2
        rig.cp.start_capture()                      # the CP emulator keeps every edge from here, stamped
        t_plug = rig.cp.set_state("C")              # the CP emulator's own time of the switch
        rig.clock.sleep(5.0)                        # rig time: on the virtual lab this costs no wall time
        m = rig.cp.measure_cp()
        print(f"CP {m.high_v:+.2f} V / {m.low_v:+.2f} V, {m.frequency_hz:.0f} Hz, duty {m.duty_pct:.2f} %")
        rig.load.set_current(10.0)
        rig.load.set_on(True)
        before = rig.analyser.read()
        rig.clock.sleep(60.0)
        after = rig.analyser.read()
        print(f"L1 {after.phases[0].i_a:.2f} A at {after.phases[0].u_v:.1f} V; "
              f"{after.energy_wh - before.energy_wh:.1f} Wh in {after.t_s - before.t_s:.0f} s")
        closed = [e for e in rig.cp.read_edges() if e.channel == Channel.OVP and e.value == "1" and e.t_s >= t_plug]
        if closed:
            print(f"contactor closed {closed[0].t_s - t_plug:.3f} s after the vehicle asked")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2], live="--live" in sys.argv))
