"""Every error the rig raises, split by who is to blame.

A conformance verdict must never blame the DUT for a rig fault, so rig faults form their own
tree (`RigError`): reports classify them as *broken*, never *failed*.  Instrument errors are
split by phase, as python-can does: opening (`InstrumentInitError`), talking
(`InstrumentOperationError`) and waiting (`InstrumentTimeout`).
"""

from __future__ import annotations

from pathlib import Path


class ConformanceFailure(Exception):
    """The DUT does not conform: a judged measurement is outside its limits.

    The one exception a report counts as *failed*.  Deliberately not an AssertionError: a bare
    `assert` in a test (a rig author's narrowing, a helper's sanity check) is the rig's fault and
    is reported *broken*, never blamed on the DUT."""


class RigError(Exception):
    """The rig, not the DUT, failed: a report shows this as *broken*."""


class ConfigError(RigError):
    """A rig file or profile is wrong; says which file, which key, what was expected and found."""

    def __init__(self, file: str | Path | None, key: str, expected: str, found: object = None,
                 hint: str = "") -> None:
        self.file = str(file) if file is not None else "<no file>"
        self.key = key
        self.expected = expected
        self.found = found
        # no file: the value came from the command line, and the key names the option
        where = (f"{self.file}: [{key}]" if file is not None else key) if key else self.file
        text = f"{where}: expected {expected}"
        if found is not None:
            text += f", found {found!r}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class InstrumentError(RigError):
    """An instrument misbehaved; `role` names which one."""

    def __init__(self, role: str, message: str) -> None:
        self.role = role
        super().__init__(f"{role}: {message}")


class InstrumentInitError(InstrumentError):
    """The instrument could not be opened or did not identify itself as expected."""


class InstrumentOperationError(InstrumentError):
    """A command was refused, or its answer could not be understood."""


class InstrumentTimeout(InstrumentError):
    """The instrument did not answer in time."""


class InstrumentLost(InstrumentOperationError):
    """The connection to the instrument is gone (closed by the far end, reset, a broken pipe): no
    later test could use it, so the run stops once, instead of breaking every test that follows."""


class InvalidValue(RigError, ValueError):
    """A value was rejected before any I/O because the instrument could not apply it."""


class PreconditionError(RigError):
    """A test could not reach the state it judges from (the contactor never closed in its arrange
    step, an injection did not take): nothing was judged, so the outcome is *broken*."""


class SafetyRefusal(RigError):
    """The rig refused to energise or act because a safety condition was not met."""
