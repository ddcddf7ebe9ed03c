"""The only modules that import pyvisa, pyserial, python-can and pymodbus.

Drivers speak vocabulary through a `LineTransport`; the transport owns bytes, terminators,
timeouts, error wrapping and the single traffic log.
"""

from instruments.transport.base import LineTransport, traffic_log

__all__ = ["LineTransport", "traffic_log"]
