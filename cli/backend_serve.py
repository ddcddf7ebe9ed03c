"""`wallbox-rig backend serve`: the rig's OCPP central system (1.6J, 2.0.1) on its own, printing every frame
as it passes, so a developer can point a real wallbox at it and watch; `--schedule FILE` sends a
charging profile (a tariff plan, or a profile as JSON) to each charge point that boots."""

from __future__ import annotations

import argparse
import sys
import json
import time
import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.errors import ConfigError, RigError
from core.records import RunStatus
from instruments.backend import ANY_CHARGE_POINT, Frame, OcppCentralSystem
from instruments.backend_planner import Tariff, plan_departure
from instruments.ocpp_dialect import dialect
from instruments.transport.ocpp_ws import call_problem
from cli.backend_console import parse, parse_line, run


def load_schedule(path: Path, now: datetime, versions: tuple[str, ...] = ("1.6",)) -> dict[str, Any]:
    """A profile for SetChargingProfile's csChargingProfiles: a .json file is one as it stands; a
    .toml file is a plan: [plan] energy_wh, departure ("HH:MM" UTC, the next such time), max_a,
    phases, volts; [tariff] night_from_h, night_to_h; [tariff.pv_surplus_w] "HOUR" = W."""
    if path.suffix == ".json":
        try:
            profile = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(path, "", "a charging profile as JSON (OCPP 1.6 §7.8 ChargingProfile)",
                              hint=str(exc)) from None
        if not isinstance(profile, dict) or "chargingSchedule" not in profile:
            raise ConfigError(path, "chargingSchedule", "a ChargingProfile object with a chargingSchedule")
        for version in versions:   # refused here, once, not by every charge point at every boot
            try:
                action, payload = dialect(version).set_charging_profile(profile, connector_of(profile))
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(path, "", f"a ChargingProfile that OCPP {version} can carry",
                                  hint=f"{type(exc).__name__}: {exc}") from None
            refused = call_problem(action, json.loads(json.dumps(payload), parse_float=Decimal), version)
            if refused is not None:
                raise ConfigError(path, "", f"a ChargingProfile valid against the OCPP {version} schema "
                                  f"({action})", hint=f"{refused[0]}: {refused[1]}")
        return profile
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(path, "", "a tariff plan (TOML) or a profile (.json)", hint=str(exc)) from None
    plan, tariff = data.get("plan", {}), data.get("tariff", {})
    try:
        hour, minute = (int(x) for x in str(plan["departure"]).split(":"))
        departure = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if departure <= now:
            departure += timedelta(days=1)
        pv = {int(h): float(w) for h, w in tariff.get("pv_surplus_w", {}).items()}
        made = plan_departure(now, departure, float(plan["energy_wh"]), float(plan.get("max_a", 16.0)),
                              int(plan.get("phases", 3)), float(plan.get("volts", 230.0)),
                              Tariff(int(tariff.get("night_from_h", 22)), int(tariff.get("night_to_h", 6)), pv))
    except KeyError as exc:
        raise ConfigError(path, f"plan.{exc.args[0]}", "a value (energy_wh, departure \"HH:MM\")",
                          hint="the key is missing") from None
    except ValueError as exc:
        raise ConfigError(path, "plan", "numbers, and a departure as \"HH:MM\"", hint=str(exc)) from None
    return made.profile


def connector_of(profile: dict[str, Any]) -> int:
    """Where SetChargingProfile puts a profile: a ChargePointMaxProfile on connector 0, the charge point
    as a whole (OCPP 1.6 §3.13.1); any other on connector 1."""
    return 0 if profile.get("chargingProfilePurpose") == "ChargePointMaxProfile" else 1


EXIT_OK, EXIT_BROKEN = RunStatus.PASSED.exit_code, RunStatus.BROKEN.exit_code


def print_frame(frame: Frame) -> None:
    print(f"{frame.utc or datetime.now(UTC).isoformat()}  {frame.charge_point:12s} "
          f"{frame.line().split(chr(9), 2)[2]}", flush=True)


OPTION_OF = {"charge_point_id": "--charge-point-id", "password": "--password", "certfile": "--certfile",
             "keyfile": "--keyfile", "accepted_id_tags": "--accept-tag", "heartbeat_interval_s": "--heartbeat",
             "versions": "--ocpp-version", "client_cafile": "--client-cafile"}


def cmd_backend_serve(args: argparse.Namespace) -> int:
    versions = list(dict.fromkeys(args.ocpp_version or ["1.6"]))
    settings: dict[str, Any] = {"charge_point_id": args.charge_point_id or ANY_CHARGE_POINT,
                                "accepted_id_tags": args.accept_tag, "heartbeat_interval_s": args.heartbeat,
                                "versions": versions}
    for key in ("password", "certfile", "keyfile", "client_cafile"):
        if getattr(args, key):
            settings[key] = getattr(args, key)
    declared = OcppCentralSystem.declared_settings()
    for key, value in settings.items():   # the rig file's rules for the same settings
        problem = None if (key, value) == ("charge_point_id", ANY_CHARGE_POINT) else declared[key].problem(value)
        if problem is not None:
            raise ConfigError(None, OPTION_OF[key], problem, value)
    schedule_path = Path(args.schedule) if args.schedule else None
    if schedule_path is not None:
        load_schedule(schedule_path, datetime.now(UTC), tuple(versions))   # refused before anything listens
    if schedule_path is not None and (args.script or args.console):
        raise ConfigError(None, "--schedule", "--schedule alone, or --script / --console (which can send a "
                          "SetChargingProfile themselves)", "both")
    script = None
    if args.script:
        script_path = Path(args.script)
        try:
            script = parse(script_path.read_text().splitlines(), script_path, versions[0])
        except OSError as exc:
            raise ConfigError(script_path, "", "a readable script", hint=str(exc)) from None
    backend = OcppCentralSystem(args.listen, settings)
    backend.attach_clock(time.monotonic, virtual=False)
    backend.listeners.append(print_frame)
    try:  # from before the ready line: a client may send Ctrl-C as soon as it reads it
        spoken = " and ".join("1.6J" if v == "1.6" else v for v in versions)
        print(f"OCPP {spoken} central system on {args.listen}/<charge point id> "
              f"({'basic auth' if args.password else 'no auth'}); Ctrl-C stops.", flush=True)
        if script is not None:
            return EXIT_BROKEN if run(script, backend, print) else EXIT_OK
        if args.console:
            failures = 0
            for n, line in enumerate(sys.stdin, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    try:
                        failures += run([parse_line(line.strip(), n, None, versions[0])], backend, print)
                    except ConfigError as exc:
                        print(f"wallbox-rig: {exc}", flush=True)
            return EXIT_BROKEN if failures else EXIT_OK
        while True:
            identity = backend.booted_points.get()
            if schedule_path is None:
                continue
            time.sleep(0.2)   # the BootNotification's answer goes out first
            try:
                profile = load_schedule(schedule_path, datetime.now(UTC))
                answer = backend.call_point(identity, *backend.dialect_of(identity).set_charging_profile(
                    profile, connector_of(profile)))
                print(f"schedule {schedule_path.name} sent to {identity}: {answer.get('status')}", flush=True)
            except RigError as exc:   # one charge point's trouble does not end the backend
                print(f"schedule {schedule_path.name} not sent to {identity}: {exc}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        backend.close()
    return 0


def cmd_backend_ca(args: argparse.Namespace) -> int:
    from instruments.transport.test_ca import make_test_ca

    made = make_test_ca(Path(args.out), list(args.charge_point_id), list(args.host) or ["127.0.0.1"])
    print(f"CA (both sides trust it): {made.cafile}")
    print(f"backend: --certfile {made.server.certfile} --keyfile {made.server.keyfile} --client-cafile {made.cafile}")
    for identity, issued in made.stations.items():
        print(f"charge point {identity}: client certificate {issued.certfile}, key {issued.keyfile}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    backend = sub.add_parser("backend", help="the OCPP backend").add_subparsers(dest="backend_command", required=True)
    serve = backend.add_parser("serve", help="run the OCPP central system (1.6J, 2.0.1) alone, printing every "
                                             "message (point a wallbox at it)")
    serve.add_argument("--listen", default="ws://127.0.0.1:9000",
                       help="ws://HOST:PORT or wss://HOST:PORT (default %(default)s: this host only; another "
                            "interface, e.g. ws://0.0.0.0:9000, needs --password)")
    serve.add_argument("--charge-point-id", help="the identity the rig's calls go to (default: any that connects)")
    serve.add_argument("--password", help="security profile 1: the basic-auth password every charge point must give")
    serve.add_argument("--certfile", help="security profile 2 (wss://): the server certificate (PEM)")
    serve.add_argument("--keyfile", help="its key (PEM)")
    serve.add_argument("--client-cafile", metavar="FILE",
                       help="security profile 3 (wss://): the CA (PEM) a charge point's client certificate must chain "
                            "to, its commonName the charge point's identity (`wallbox-rig backend ca` makes one)")
    serve.add_argument("--accept-tag", action="append", default=[], metavar="IDTAG",
                       help="an idTag to accept (repeatable); every other is Invalid")
    serve.add_argument("--heartbeat", type=int, default=300, help="the heartbeat interval given at boot, s")
    serve.add_argument("--schedule", metavar="FILE", help="send this charging profile (.json) or tariff plan "
                                                         "(.toml) to each charge point that boots")
    serve.add_argument("--script", metavar="FILE", help="carry out the commands in FILE (call ACTION {json}, "
                                                       "wait-boot, sleep, to ID), then stop (cli/backend_console.py)")
    serve.add_argument("--console", action="store_true", help="take the same commands typed on standard input")
    serve.add_argument("--ocpp-version", action="append", choices=("1.6", "2.0.1"), metavar="VERSION",
                       help="offer this OCPP version: 1.6 (the default) or 2.0.1; repeat to offer both, preferred "
                            "first (the charge point's WebSocket handshake picks one); a --script's or --console's "
                            "calls are checked against the first")
    serve.set_defaults(func=cmd_backend_serve)
    ca = backend.add_parser("ca", help="make a test CA for security profiles 2 and 3: the CA certificate, the "
                                       "backend's server certificate and a client certificate per charge point")
    ca.add_argument("--out", required=True, help="the folder to write ca.pem, csms.pem/.key, station-<id>.pem/.key to")
    ca.add_argument("--charge-point-id", action="append", default=[], metavar="ID",
                    help="a charge point to issue a client certificate for (repeatable; commonName = ID)")
    ca.add_argument("--host", action="append", default=[], metavar="HOST",
                    help="an IP address or DNS name the backend is reached at (repeatable; default 127.0.0.1)")
    ca.set_defaults(func=cmd_backend_ca)
