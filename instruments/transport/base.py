"""The line-oriented transport every text-protocol driver talks through."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

traffic_log = logging.getLogger("wallbox_rig.traffic")
"""All instrument traffic goes through this one logger (`-o log_cli_level=DEBUG` shows it)."""


class LineTransport(ABC):
    """Send one command line, optionally read one answer line; terminators are the transport's job."""

    def __init__(self, role: str) -> None:
        self.role = role

    def write(self, line: str) -> None:
        traffic_log.debug("%s >> %s", self.role, line)
        self._write(line)

    def query(self, line: str) -> str:
        traffic_log.debug("%s >> %s", self.role, line)
        self._write(line)
        answer = self._read()
        traffic_log.debug("%s << %s", self.role, answer)
        return answer

    @abstractmethod
    def _write(self, line: str) -> None: ...

    @abstractmethod
    def _read(self) -> str: ...

    @abstractmethod
    def close(self) -> None: ...
