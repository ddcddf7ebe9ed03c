"""One thread of numerical work per process of the rig.

The virtual lab runs a lab per core, each lab in its own process; numpy's OpenBLAS would start a
thread per core in every one of them, and those threads spin against each other's labs for the small
arrays the rig handles (a waveform, a plot): two labs with plots took 37.6 s instead of 18.4 s on two
cores.  So the rig's entry points (the `wallbox-rig` command and the pytest plugin) ask for one
thread, before numpy is first imported, unless the user's environment already says otherwise.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_numeric_thread() -> None:
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
