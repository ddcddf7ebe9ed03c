"""Benches as labgrid places: reserve one (by name or tags), wait for our turn, acquire it, read its
resources as instrument addresses, and release it on every exit.

The only module of the rig that knows labgrid.  It drives labgrid's own client, `labgrid-client`
(the optional extra `wallbox-rig[labgrid]` installs it), through its documented commands:
`reserve`, `wait`, `acquire`, `env` (the acquired place's resources as YAML), `release` and
`cancel-reservation`, against the coordinator the rig file names.  A lab runs the coordinator and
one exporter per bench host; `docs/bench/labgrid.md` shows how.

A resource becomes the address a driver opens: `NetworkSerialPort` → `socket://host:port` (raw)
or `rfc2217://host:port`; `PyVISADevice` → its VISA URL; `NetworkService` → `tcp://address:port`;
`HTTPVideoStream` → `video:URL`.  A rig file writes `place:NAME` for the whole address, or
`{place:NAME}` for `host:port` inside a longer one (`can:socketcand:vcan0@{place:fault_box}`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError, RigError
from rig import interrupts

PLACE_REF = re.compile(r"\{place:([A-Za-z0-9_.-]+)\}|^place:([A-Za-z0-9_.-]+)$")
CLIENT = "labgrid-client"
POLL_S = 3.0
PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True)
class PlaceSpec:
    """Which place a rig runs on: its name, or tags any matching place has; the coordinator."""

    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    coordinator: str | None = None
    wait_s: float = 3600.0

    def filters(self) -> list[str]:
        return [f"name={self.name}"] if self.name else [f"{k}={v}" for k, v in sorted(self.tags.items())]

    def describe(self) -> str:
        return self.name or ", ".join(self.filters())


def client_path() -> str:
    """labgrid's client, next to this Python (a venv) or on PATH; a clear error where it is missing."""
    beside = Path(sys.executable).with_name(CLIENT)
    found = str(beside) if beside.exists() else shutil.which(CLIENT)
    if found is None:
        raise RigError(f"this rig runs on a labgrid place, but {CLIENT} is not installed: "
                       "pip install 'wallbox-rig[labgrid]' (labgrid >= 25)")
    return found


def address_of(cls: str, params: Mapping[str, Any], name: str) -> str:
    """The address a driver opens for a labgrid resource."""
    if cls == "NetworkSerialPort":
        scheme = "rfc2217" if params.get("protocol", "rfc2217") == "rfc2217" else "socket"
        return f"{scheme}://{params['host']}:{params['port']}"
    if cls == "PyVISADevice":
        return str(params["url"])
    if cls == "NetworkService":
        scheme = {"ocpp": "ws", "iso15118-sdp": "udp"}.get(str(params.get("username")), "tcp")   # the backend: ws
        return f"{scheme}://{params['address']}:{params.get('port', 22)}"
    if cls == "HTTPVideoStream":
        return f"video:{params['url']}"
    raise RigError(f"place resource {name!r} is a {cls}: wallbox-rig reaches NetworkSerialPort, PyVISADevice, "
                   "NetworkService and HTTPVideoStream resources")


def host_port_of(address: str) -> str:
    """`host:port` of a resource's address, for `{place:NAME}` inside a longer address."""
    rest = address.split("://", 1)[-1]
    if "::" in rest:  # TCPIP0::host::port::SOCKET
        parts = rest.split("::")
        return f"{parts[1]}:{parts[2]}"
    return rest


def exporter_config(group: str, endpoints: Mapping[str, str]) -> str:
    """A labgrid exporter's configuration (YAML) that exports a served virtual lab's endpoints as
    one group of resources named like the endpoints (`wallbox-rig sim serve --labgrid-exporter`)."""
    lines = [f"{group}:"]
    for name, address in endpoints.items():
        if address.startswith("socket://"):
            host, _, port = address[len("socket://"):].rpartition(":")
            fields = {"cls": "NetworkSerialPort", "host": host, "port": port, "protocol": "raw"}
        elif "::" in address:
            fields = {"cls": "PyVISADevice", "type": "TCPIP", "url": address}
        elif address.startswith("can:socketcand:"):
            host, _, port = address.rpartition("@")[2].rpartition(":")
            fields = {"cls": "NetworkService", "address": host, "port": port, "username": "socketcand"}
        elif address.startswith("tcp://"):   # Modbus TCP (the chamber): a plain TCP service
            host, _, port = address[len("tcp://"):].rpartition(":")
            fields = {"cls": "NetworkService", "address": host, "port": port, "username": "modbus-tcp"}
        elif address.startswith("ws://"):    # where the DUT dials its OCPP backend: the rig listens there
            host, _, port = address[len("ws://"):].rpartition(":")
            fields = {"cls": "NetworkService", "address": host, "port": port, "username": "ocpp"}
        elif address.startswith("udp://"):   # the DUT's ISO 15118 SECC discovery (SDP) port
            host, _, port = address[len("udp://"):].rpartition(":")
            fields = {"cls": "NetworkService", "address": host, "port": port, "username": "iso15118-sdp"}
        else:
            raise RigError(f"endpoint {name} ({address}) has no labgrid resource class here")
        lines.append(f"  {name}:")
        lines += [f"    {k}: {v}" for k, v in fields.items()]
    return "\n".join(lines) + "\n"


def references(address: str) -> list[str]:
    """The place resources an address names (empty for a plain address)."""
    return [a or b for a, b in PLACE_REF.findall(address)]


class Place:
    """An acquired place, from `reserve` to `release`; a context manager that always releases."""

    def __init__(self, spec: PlaceSpec, notify: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self.notify = notify or (lambda line: print(line, file=sys.stderr, flush=True))
        self.token: str | None = None
        self.name: str | None = None
        self.resources: dict[str, tuple[str, dict[str, Any]]] = {}
        self._acquired = False

    # --- labgrid's client ---------------------------------------------------------------------
    def _client(self, *args: str, timeout_s: float = 60.0, check: bool = True,
                raw_timeout: bool = False) -> subprocess.CompletedProcess[str]:
        """`labgrid-client ARGS` against the spec's coordinator; `raw_timeout`: a time-out is the
        caller's to handle (a `wait` slice), not an error."""
        cmd = [client_path(), *args]
        env = {**os.environ}
        if self.spec.coordinator:
            env["LG_COORDINATOR"] = self.spec.coordinator
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired as exc:
            if raw_timeout:
                raise
            raise RigError(f"labgrid: `{' '.join(cmd[1:])}` did not answer within {timeout_s:g} s "
                           f"(coordinator {self.spec.coordinator or 'from LG_COORDINATOR'})") from exc
        if check and proc.returncode != 0:
            raise RigError(f"labgrid: `{' '.join(cmd[1:])}` failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
        return proc

    # --- the lifecycle --------------------------------------------------------------------------
    def acquire(self) -> Place:
        """Reserve, wait for our turn (a line of progress every 10 s), acquire, read the resources."""
        out = self._client("reserve", "--shell", *self.spec.filters()).stdout
        match = re.search(r"LG_TOKEN=(\S+)", out)
        if match is None:
            raise RigError(f"labgrid: no reservation token in {out.strip()!r}")
        self.token = match.group(1)
        try:
            self._wait_turn()
            self._client("-p", f"+{self.token}", "acquire")
            self._acquired = True
            self._read_resources()
        except BaseException:
            self.release()
            raise
        return self

    def _wait_turn(self) -> None:
        """labgrid's `wait` polls the reservation (which keeps it alive) until it is allocated; run in
        short slices, so progress is printed and the rig's own wait limit holds."""
        start = last = time.monotonic()
        self.notify(f"  [place {self.spec.describe()}: reserved ({self.token}), waiting for our turn]")
        while True:
            interrupts.check()  # Ctrl-C or SIGTERM while waiting: the reservation is cancelled on the way out
            try:
                out = self._client("wait", str(self.token), timeout_s=POLL_S, raw_timeout=True).stdout
            except subprocess.TimeoutExpired:
                out = None
            if out is not None:
                states = re.findall(r"state:\s*(\w+)", out)
                state = states[-1] if states else "unknown"
                if state == "allocated":
                    return
                raise RigError(f"labgrid: reservation {self.token} for place {self.spec.describe()} is {state}")
            now = time.monotonic()
            if now - start > self.spec.wait_s:
                raise RigError(f"labgrid: place {self.spec.describe()} was not ours within {self.spec.wait_s:g} s "
                               "([place] wait_s)")
            if now - last >= PROGRESS_EVERY_S:
                self.notify(f"  [place {self.spec.describe()}: waiting for our turn, {now - start:.0f} s]")
                last = now

    def _read_resources(self) -> None:
        import yaml  # labgrid's own dependency: the `env` command writes YAML

        text = self._client("-p", f"+{self.token}", "env").stdout
        targets = (yaml.safe_load(text) or {}).get("targets", {})
        if len(targets) != 1:
            raise RigError(f"labgrid: expected one target in the place's environment, found {list(targets)}")
        self.name, target = next(iter(targets.items()))
        for entry in target.get("resources") or []:
            (cls, params), = entry.items()
            params = dict(params)
            name = str(params.pop("name", cls))
            self.resources[name] = (cls, params)

    def address(self, reference: str, where: str) -> str:
        """`place:NAME` → the resource's address; `{place:NAME}` inside an address → its host:port."""
        def lookup(name: str) -> str:
            if name not in self.resources:
                raise ConfigError(where, "", f"a resource of place {self.name} ({', '.join(sorted(self.resources))})",
                                  f"place:{name}")
            cls, params = self.resources[name]
            return address_of(cls, params, name)

        whole = re.fullmatch(r"place:([A-Za-z0-9_.-]+)", reference)
        if whole:
            return lookup(whole.group(1))
        return re.sub(r"\{place:([A-Za-z0-9_.-]+)\}", lambda m: host_port_of(lookup(m.group(1))), reference)

    def release(self) -> None:
        """Release and end the reservation; safe to call twice, and after a failed acquire."""
        if self.token is None:
            return
        token, self.token = self.token, None
        if self._acquired:
            self._acquired = False
            self._client("-p", f"+{token}", "release", check=False)
        self._client("cancel-reservation", token, check=False)

    def provenance(self) -> dict[str, Any]:
        return {"place": self.name, "coordinator": self.spec.coordinator or os.environ.get("LG_COORDINATOR", ""),
                "place_resources": {n: address_of(c, p, n) for n, (c, p) in sorted(self.resources.items())}}

    def __enter__(self) -> Place:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
