"""The simulated wallbox's behaviour knobs: every behaviour the suite judges can be bent here.

Defaults describe a conforming wallbox.  Set them in a rig file's `[sim.dut]` table or with
`--sim-set NAME=VALUE`; `wallbox-rig sim params` lists them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


class KnobError(ValueError):
    """A knob name or value the simulated wallbox cannot take."""

    def __init__(self, knob: str, expected: str, found: object) -> None:
        self.knob, self.expected, self.found = knob, expected, found
        super().__init__(f"sim knob {knob!r}: expected {expected}, found {found!r}")


@dataclass(frozen=True)
class Knob:
    name: str
    default: Any
    unit: str
    meaning: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    valid: Any = None
    """A check of the parsed value beyond type, range and choices (`expected` says what passes)."""
    expected: str = ""

    def parse(self, raw: object) -> Any:
        kind = type(self.default)
        value: Any
        if kind is bool:
            if isinstance(raw, bool):
                value = raw
            elif str(raw).lower() in ("1", "true", "yes", "on"):
                value = True
            elif str(raw).lower() in ("0", "false", "no", "off"):
                value = False
            else:
                raise KnobError(self.name, "true or false", raw)
        else:
            try:
                value = kind(raw) if not isinstance(raw, bool) else None
            except (TypeError, ValueError):
                value = None
            if value is None or (kind is int and isinstance(raw, float) and raw != int(raw)):
                raise KnobError(self.name, f"a{'n integer' if kind is int else ' number'}", raw)
            if kind is float and not math.isfinite(value):   # a NaN compares false with every bound
                raise KnobError(self.name, "a finite number", raw)
        if self.choices is not None and value not in self.choices:
            raise KnobError(self.name, f"one of {', '.join(map(str, self.choices))}", raw)
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise KnobError(self.name, f"a value in [{self.low}, {self.high}] {self.unit}".rstrip(), raw)
        if self.valid is not None and not self.valid(value):
            raise KnobError(self.name, self.expected, raw)
        return value


BEEPS = ("none", "short", "two short", "long")


def _three_beeps(value: str) -> bool:
    parts = [p.strip() for p in value.split(",")]
    return len(parts) == 3 and all(p in BEEPS for p in parts)


KNOBS: tuple[Knob, ...] = (
    Knob("seed", 1, "", "seed of every random draw in the virtual lab (noise, random delays)", 0, 2**31 - 1),
    Knob("rated_current_a", 32.0, "A", "installer's current setting; 0 offers no charging", 0, 80),
    Knob("phases", 3, "", "phases the contactor switches to the vehicle", choices=(1, 3)),
    Knob("connector", "tethered", "", "tethered cable (its plug carries the PP resistor) or socket outlet (the "
         "cable brings its coding)", choices=("tethered", "socket")),
    Knob("pp_resistance_ohm", 220.0, "ohm", "PP-PE resistor in the tethered plug (220 ohm codes 32 A)", 0, 10_000),
    Knob("pp_caps_offer", True, "", "socket outlet: the offer never exceeds the cable's PP coding"),
    Knob("pp_invalid_blocks", True, "", "socket outlet: an invalid PP coding (open, short, out of window) blocks "
         "charging"),
    Knob("boot_time_s", 6.0, "s", "power-on to ready (state A1)", 0, 600),
    Knob("cp_generator_v", 12.0, "V", "amplitude of the CP generator's +/- levels", 0, 15),
    Knob("pwm_frequency_hz", 1000.0, "Hz", "CP PWM frequency", 1, 10_000),
    Knob("pwm_duty_offset_pct", 0.0, "%", "error added to the duty the firmware computes", -50, 50),
    Knob("b2_pwm_delay_ms", 100.0, "ms", "vehicle detected (B) to PWM on (B2)", 0, 60_000),
    Knob("contactor_close_delay_ms", 500.0, "ms", "vehicle asks for power (C) to contacts closed", 0, 60_000),
    Knob("contactor_open_delay_ms", 40.0, "ms", "vehicle leaves C (to B or A) to contacts open", 0, 60_000),
    Knob("diode_check", True, "", "the firmware checks the -12 V level (vehicle diode) before closing"),
    Knob("classifies_b_up_to_ohm", 6500.0, "ohm", "largest vehicle resistance the firmware still reads as B", 100,
         100_000),
    Knob("classifies_c_up_to_ohm", 1500.0, "ohm", "largest vehicle resistance the firmware reads as C (above: B)",
         100, 100_000),
    Knob("classifies_c_down_to_ohm", 500.0, "ohm", "smallest vehicle resistance the firmware reads as C (below: D)",
         10, 100_000),
    Knob("closes_on_a_to_c_jump", False, "", "the firmware closes at once when C follows A without B (no PWM "
         "offered first)"),
    Knob("min_current_duty_pct", 10.0, "%", "duty the firmware shows for a 6 A offer (IEC: 10 %)", 0, 100),
    Knob("zero_setting_offers_min", False, "", "the firmware offers 6 A where the installer set 0 A"),
    Knob("pwm_update_min_interval_s", 5.2, "s", "least time between two changes of the offered duty (a 5 s rule "
         "kept with a margin for the firmware's timer tick)", 0, 3600),
    Knob("c1_cutoff_s", 6.5, "s", "PWM removed in C2 (C1) and the vehicle stays in C: time to open the contactor",
         0, 3600),
    Knob("wake_up_enabled", False, "", "IEC 61851-1 A.5.3 wake-up: one x1 step after a while in B2 without C"),
    Knob("wake_up_after_s", 30.0, "s", "time in B2 without C before the wake-up step", 0, 3600),
    Knob("wake_up_step_s", 3.5, "s", "length of the wake-up step (PWM off, +12 V)", 0, 60),
    Knob("state_e_open_delay_ms", 20.0, "ms", "CP shorted to PE (E) while charging to contacts open", 0, 60_000),
    Knob("fault_hold_s", 1.0, "s", "time the firmware holds state F (-12 V) before it re-evaluates", 0, 600),
    Knob("overcurrent_trip_s", 6.5, "s", "time over (offer + 0.5 A) x 1.1 before the firmware stops charging", 0,
         3600),
    Knob("overcurrent_detection", True, "", "the firmware supervises the vehicle's current at all"),
    Knob("ventilation_supported", False, "", "the wallbox charges in state D (ventilation)"),
    # --- protections (fault injection) ---
    Knob("rcd_ac_trip_ma", 22.0, "mA", "AC residual current (rms) at which the residual current monitor trips", 0.1,
         1000),
    Knob("rcd_ac_trip_time_ms", 25.0, "ms", "AC residual current above the trip level to contacts open", 0, 60_000),
    Knob("rcd_dc_trip_ma", 4.5, "mA", "smooth DC residual current at which the monitor trips", 0.1, 1000),
    Knob("rcd_dc_trip_time_ms", 400.0, "ms", "DC residual current above the trip level to contacts open", 0,
         600_000),
    Knob("rcd_latch", True, "", "a residual-current trip holds until the supply is cycled (else it clears after "
         "the fault hold)"),
    Knob("weld_detection", True, "", "the firmware checks for output voltage with the contactor open (after each "
         "opening, at power-up, at plug-in and before each closing)"),
    Knob("weld_check_after_open_ms", 200.0, "ms", "time after an opening at which the firmware checks for a weld",
         0, 60_000),
    Knob("overvoltage_v", 264.0, "V", "supply L-N voltage above which the firmware stops charging (on a 230 V "
         "installation; scaled to the nominal it detects)", 0, 400),
    Knob("undervoltage_v", 195.0, "V", "supply L-N voltage below which the firmware stops charging (on a 230 V "
         "installation; scaled to the nominal it detects)", 0, 400),
    Knob("phase_supervision", True, "", "every installed phase is supervised (a lost L2/L3 is an under-voltage); off: L1 only"),
    Knob("single_phase_supported", True, "", "powered up on L1 alone, the firmware takes it as a single-phase "
         "installation (WB-EL-02); off: it expects all three phases and reads the missing two as under-voltage"),
    Knob("supply_nominal_detection", True, "", "the firmware takes the standard nominal nearest to what it finds "
         "at power-up (100 ... 240 V) as its installation's, and supervises against it; off: against 230 V always"),
    Knob("supply_min_nominal_v", 100.0, "V", "lowest nominal L-N voltage the firmware accepts at power-up (below: "
         "a fault, no charging)", 0, 400),
    Knob("supply_max_nominal_v", 240.0, "V", "highest nominal L-N voltage the firmware accepts at power-up", 0, 400),
    Knob("supply_min_hz", 45.0, "Hz", "supply frequency below which the firmware stops charging", 0, 100),
    Knob("supply_max_hz", 65.0, "Hz", "supply frequency above which the firmware stops charging", 0, 1000),
    Knob("supply_fault_delay_s", 1.0, "s", "time a supply fault must last before the firmware stops", 0, 600),
    Knob("pe_monitoring", True, "", "the firmware notices an interrupted supply PE and stops"),
    Knob("pe_fault_delay_ms", 100.0, "ms", "supply PE interrupted to contacts open", 0, 60_000),
    Knob("overtemp_derate_c", 65.0, "degC", "internal temperature at which the firmware reduces its offer", -60, 200),
    Knob("overtemp_derate_fraction", 0.5, "", "derated offer as a fraction of the setting (at least 6 A)", 0, 1),
    Knob("overtemp_stop_c", 71.0, "degC", "internal temperature at which the firmware stops charging", -60, 200),
    Knob("overtemp_resume_c", 60.0, "degC", "internal temperature below which derating and stop clear", -60, 200),
    Knob("overtemp_auto_resume", True, "", "after an over-temperature stop, charging resumes by itself once cooled "
         "(else only after a power cycle)"),
    Knob("undertemp_stop_c", -45.0, "degC", "internal temperature below which the firmware will not charge", -100,
         100),
    Knob("temperature_sample_s", 1.0, "s", "period of the firmware's temperature sampling", 0.01, 60),
    Knob("thermal_rise_c", 12.0, "degC", "internal temperature rise over ambient at rated current (steady state)",
         0, 200),
    Knob("thermal_time_constant_s", 600.0, "s", "thermal time constant of the enclosure", 0, 100_000),
    Knob("restarts_after_mains_loss", True, "", "a session interrupted by a mains loss resumes by itself"),
    Knob("cold_load_min_s", 1.0, "s", "shortest random delay before an interrupted session resumes", 0, 3600),
    Knob("cold_load_max_s", 120.0, "s", "longest random delay before an interrupted session resumes", 0, 3600),
    Knob("cold_load_distribution", "uniform", "", "how the delay is drawn: uniform, fixed (the midpoint), "
         "steps (one of 4 values)", choices=("uniform", "fixed", "steps")),
    Knob("cold_load_seed_per_boot", True, "", "the delay PRNG is seeded afresh at each boot (off: the same "
         "sequence after every power cut)"),
    Knob("cold_load_every_boot", True, "", "a power cut during the delay means a fresh delay at the next power-up "
         "(off: the session then resumes at once)"),
    Knob("led_colour", "blue", "", "colour of the LED bar's normal patterns", choices=("blue", "yellow", "green",
                                                                                     "white", "red")),
    Knob("led_fault_colour", "red", "", "colour of the bar in a fault", choices=("red", "yellow", "blue", "green",
                                                                                 "white")),
    Knob("led_initialising", "sweeping", "", "pattern while booting", choices=("sweeping", "solid", "blinking",
                                                                               "breathing", "off")),
    Knob("led_standby", "solid", "", "pattern when ready with no session", choices=("solid", "sweeping", "blinking",
                                                                                    "breathing", "off")),
    Knob("led_charging", "breathing", "", "pattern while charging (C2)", choices=("breathing", "blinking", "solid",
                                                                                  "sweeping", "off")),
    Knob("led_paused", "sweeping", "", "pattern while paused or waiting out a cold-load delay",
         choices=("sweeping", "solid", "blinking", "breathing", "off")),
    Knob("led_period_s", 2.0, "s", "period of the blinking, breathing and sweeping patterns", 0.2, 20),
    Knob("comms_module_fault", "none", "", "where the firmware shows a defective communication module (S4 red): "
         "none, standby, charging, firmware_update or all",
         choices=("none", "standby", "charging", "firmware_update", "all")),
    Knob("led_firmware_update", "sweeping", "", "S1-S3 pattern during a firmware update",
         choices=("sweeping", "solid", "blinking", "breathing", "off")),
    Knob("firmware_update_s", 30.0, "s", "how long an installer-started firmware update takes before the reboot",
         1, 3600),
    Knob("led_comms_defect_charging", "breathing", "", "S1-S3 pattern while charging with the module defect",
         choices=("breathing", "blinking", "solid", "sweeping", "off")),
    Knob("hold_up_ms", 40.0, "ms", "supply loss the electronics ride through without a reset (bulk capacitor)",
         0, 10_000),
    # energy management: the installer configures meter and mode (installer METER / EMS); these bend the firmware
    Knob("meter_model", "", "", "meter model the firmware polls whatever was configured ('' = as configured)",
         choices=("", "none", "inepro-pro380", "inepro-pro2", "janitza-b23", "janitza-b21", "schneider-a9mem3150",
                  "siemens-7kt1665")),
    Knob("meter_id", 0, "", "Modbus id the firmware polls whatever was configured (0 = as configured)", 0, 247),
    Knob("meter_misread_model", "", "", "meter model whose answers the firmware decodes wrongly ('' = none): "
         "see meter_misread", choices=("", "inepro-pro380", "inepro-pro2", "janitza-b23", "janitza-b21",
                                       "schneider-a9mem3150", "siemens-7kt1665")),
    Knob("meter_misread", "current_x2", "", "how the firmware misreads meter_misread_model: currents twice too "
         "high, power twice too high, or not at all (no meter data)", choices=("current_x2", "power_x2",
                                                                                  "unreadable")),
    Knob("meter_baud", 0, "baud", "baud rate the firmware's UART runs at whatever was configured (0 = as "
         "configured)", 0, 115_200),
    Knob("meter_parity", "", "", "parity of the firmware's UART whatever was configured ('' = as configured)",
         choices=("", "N", "E", "O")),
    Knob("meter_poll_interval_s", 1.0, "s", "time between two polls of the meter", 0.1, 600),
    Knob("meter_retry_interval_s", 5.0, "s", "time between two polls while no meter answers", 0.1, 600),
    Knob("meter_lost_after_s", 5.0, "s", "no valid answer this long: the meter is reported lost", 0.1, 3600),
    Knob("meter_stale_after_s", 15.0, "s", "the same words this long: the meter is reported frozen (0: never)",
         0, 3600),
    Knob("load_management", True, "", "the firmware limits charging by the grid connection's remaining capacity "
         "when configured (WB-LM-01)"),
    Knob("grid_limit_a", 0.0, "A", "grid-connection limit per phase the firmware uses (0 = as configured)", 0, 1000),
    Knob("failsafe_current_a", -1.0, "A", "current offered without meter data (-1 = as configured)", -1, 80),
    Knob("dimming_limit_w", 0.0, "W", "charging power while the grid operator's contact is closed (0 = as "
         "configured)", 0, 100_000),
    Knob("lm_response_s", 1.0, "s", "meter reading to a new offer cap (the controller's response time)", 0, 600),
    Knob("lm_pauses_below_min", True, "", "with less than 6 A left the firmware pauses (off: keeps offering 6 A)"),
    Knob("solar_charging", True, "", "in solar mode the offer follows the PV surplus (WB-PV-01)"),
    Knob("solar_min_current_a", 6.0, "A", "solar mode with too little surplus: the limited PV + grid current",
         0, 80),
    # OCPP 1.6J charge point (the comms module), where the lab has a backend to connect to
    Knob("ocpp_connect_after_s", 45.0, "s", "power-up to the first connection attempt (the comms module, a small "
         "Linux with its modem, boots slower than the controller)",
         0, 600),
    Knob("ocpp_reconnect_s", 30.0, "s", "time between connection attempts while the backend is away", 1, 3600),
    Knob("ocpp_status_delay_s", 0.5, "s", "a change of the connector's state to its StatusNotification", 0, 3600),
    Knob("ocpp_status_on_fault", "Faulted", "", "the status sent while the EVSE is faulted (with its error code)",
         choices=("Faulted", "SuspendedEVSE", "Available", "Charging")),
    Knob("ocpp_meter_gain", 1.0, "", "metered energy over true energy (the meter's calibration)", 0.1, 10),
    Knob("ocpp_schedule_follow", True, "", "the offer follows the charging profiles (off: profiles are stored, "
         "reported in GetCompositeSchedule, and ignored)"),
    Knob("ocpp_schedule_delay_s", 1.0, "s", "a profile period's start (or a new profile) to the new limit taking "
         "effect", 0, 3600),
    Knob("ocpp_stack_level_highest_wins", True, "", "of two profiles of one purpose, the higher stack level rules "
         "(off: the lower)"),
    Knob("ocpp_honours_valid_to", True, "", "a profile stops applying at its validTo"),
    Knob("ocpp_offline_queue", True, "", "transaction messages made while the backend is away are kept and "
         "delivered in order on reconnection (off: lost)"),
    Knob("ocpp_unknown_idtag_charges", False, "", "an idTag the backend rejects still charges"),
    Knob("ocpp_power_loss_reason", "PowerLoss", "", "the reason a transaction ended by a mains loss is stopped with",
         choices=("PowerLoss", "Other", "Reboot")),
    Knob("ocpp_relative_on_wall_clock", False, "", "relative schedules run on the calendar clock, so a time set by "
         "the backend moves them (off: on the firmware's monotonic time)"),
    Knob("ocpp_watts_at_nominal_v", False, "", "limits in W are turned into A at 230 V nominal (off: at the "
         "measured voltage)"),
    Knob("ocpp_recurring_resets_at_midnight", False, "", "a daily recurring schedule restarts at each midnight "
         "(UTC) instead of running across it"),
    Knob("ocpp_remote_start_waits", True, "", "a RemoteStartTransaction made before plug-in waits for the vehicle "
         "until ConnectionTimeOut (off: the plug-in forgets it)"),
    Knob("ocpp_clear_applies", True, "", "ClearChargingProfile by a profile's id removes it (off: answered "
         "Accepted, the limit stays; a clear of every profile still works)"),
    Knob("ocpp_remote_profile_applies", True, "", "the TxProfile a RemoteStartTransaction carries limits the "
         "transaction it starts (off: dropped)"),
    Knob("ocpp_connection_timeout_applies", True, "", "a remote start no vehicle took up within ConnectionTimeOut "
         "lapses (off: it waits for ever)"),
    Knob("ocpp_availability_applies", True, "", "ChangeAvailability Inoperative makes the connector Unavailable: no "
         "session, no offer (off: acknowledged, not acted on)"),
    Knob("ocpp_availability_persists", True, "", "the availability survives a reboot (off: every boot is Operative)"),
    Knob("ocpp_txprofile_needs_transaction", True, "", "a TxProfile with no transaction running is rejected "
         "(off: accepted and applied to the next transaction)"),
    Knob("ocpp_composite_watts_inverted", False, "", "GetCompositeSchedule in W divides the current by the "
         "voltage and phases instead of multiplying (the A-W conversion upside down)"),
    Knob("ocpp_composite_merges", True, "", "a composite schedule starts a period only where the limit changes "
         "(off: at every boundary of the profiles)"),
    Knob("ocpp_status_repeats", 1, "", "how many StatusNotifications each change of status is reported with", 1, 5),
    Knob("ocpp_clock_aligned_offset_s", 0.0, "s", "clock-aligned MeterValues are taken this long after the "
         "clock's interval boundary (0: on it, OCPP 1.6 §9.1.4)", 0, 3600),
    Knob("ocpp_reset_ends_transaction", True, "", "a Reset ends the running transaction (reason HardReset or "
         "SoftReset; 2.0.1 ImmediateReset) before the reboot (off: it reboots with the transaction open, which "
         "is then reported as a power loss)"),
    Knob("ocpp_trigger_status_available", False, "", "a triggered StatusNotification says Available from a cache, "
         "whatever the connector is doing"),
    Knob("ocpp_trigger_values_stale", False, "", "triggered meter values repeat the last sample taken instead of "
         "measuring now"),
    # access control (RFID), the beeper, the pairing button
    Knob("access_control", "factory_off", "", "factory_off: off until the installer switches it on (WB-AC-01); "
         "factory_on: delivered on; ignored: the installer's switch has no effect",
         choices=("factory_off", "factory_on", "ignored")),
    Knob("rfid_accepts_unregistered", False, "", "any MIFARE card authorises a session, registered or not"),
    Knob("rfid_stop_with_card", True, "", "the session's card presented again ends it"),
    Knob("rfid_mifare_only", True, "", "the reader ignores cards that are not MIFARE Classic (off: any ISO 14443A "
         "card counts)"),
    Knob("registration_beeps", "short,two short,long", "", "the beeps for registration mode on, a card registered, "
         "mode off (each one of short, two short, long, none)", valid=_three_beeps,
         expected="three beeps, comma-separated, each one of none, short, two short, long"),
    Knob("registration_requires_idle", True, "", "registration mode only with no vehicle and the bar solid"),
    Knob("rfid_auth_delay_s", 1.0, "s", "a registered card to the session's authorisation (then the offer)", 0, 600),
    # ISO 15118 vehicles registered by their EVCC ID (the MINI's WB-AC-05)
    Knob("hlc_vehicle_registration", False, "", "the firmware has an ISO 15118 side (SECC) that registers "
         "vehicles by their EVCC ID and authorises them by it (off: no SECC answers a vehicle)"),
    Knob("hlc_authorises_any", False, "", "any vehicle that identifies itself is authorised, registered or not"),
    Knob("hlc_registers_without_setup_card", False, "", "a vehicle is registered whenever it identifies itself, "
         "with no registration mode"),
    Knob("hlc_registered_beep", "two short", "", "what sounds when a vehicle is registered",
         choices=("two short", "short", "long", "none")),
    Knob("hlc_registration_persists", True, "", "registered vehicles are kept in flash (off: in RAM, forgotten "
         "at a power cycle)"),
    Knob("hlc_auth_delay_s", 1.0, "s", "a registered vehicle's SessionSetupReq to the session's authorisation "
         "(then the offer)", 0, 600),
    Knob("hlc_id_tag_prefix", "VID:", "", "what the idTag a vehicle authorised by its MAC is reported with to an "
         "OCPP 1.6 backend starts with (the MAC follows in hex)", choices=("VID:", "", "MAC:")),
    Knob("pairing_hold_s", 5.0, "s", "how long the pairing button must be held", 0.1, 60),
    Knob("pairing_window_s", 300.0, "s", "how long after power-up the pairing button pairs", 1, 86_400),
    Knob("wallbox_id", "40012345", "", "the Wallbox ID announced on pairing (the Connect's is 8 digits)",
         valid=lambda v: v.isdigit() and 1 <= len(v) <= 20, expected="1…20 digits"),
)

KNOB_BY_NAME = {k.name: k for k in KNOBS}


def resolve_knobs(overrides: Mapping[str, object]) -> dict[str, Any]:
    """Defaults overlaid with validated overrides; an unknown name lists the known ones."""
    values = {k.name: k.default for k in KNOBS}
    for name, raw in overrides.items():
        knob = KNOB_BY_NAME.get(name)
        if knob is None:
            raise KnobError(name, f"a known knob ({', '.join(sorted(KNOB_BY_NAME))})", name)
        values[name] = knob.parse(raw)
    return values


# --- the knobs as the simulated wallbox reads them: grouped, typed, frozen -------------------------
def _knob(name: str) -> Any:
    """A group's field that holds knob `name` (the name users type after --sim-set)."""
    return field(metadata={"knob": name})


@dataclass(frozen=True)
class DutKnobs:
    """The product as installed: rating, phases, connector, boot."""

    seed: int = _knob("seed")
    rated_current_a: float = _knob("rated_current_a")
    phases: int = _knob("phases")
    connector: str = _knob("connector")
    pp_resistance_ohm: float = _knob("pp_resistance_ohm")
    pp_caps_offer: bool = _knob("pp_caps_offer")
    pp_invalid_blocks: bool = _knob("pp_invalid_blocks")
    boot_time_s: float = _knob("boot_time_s")
    hold_up_ms: float = _knob("hold_up_ms")
    wallbox_id: str = _knob("wallbox_id")


@dataclass(frozen=True)
class CpKnobs:
    """The control pilot: PWM, state classification, timing of the offer."""

    generator_v: float = _knob("cp_generator_v")
    pwm_frequency_hz: float = _knob("pwm_frequency_hz")
    pwm_duty_offset_pct: float = _knob("pwm_duty_offset_pct")
    b2_pwm_delay_ms: float = _knob("b2_pwm_delay_ms")
    diode_check: bool = _knob("diode_check")
    classifies_b_up_to_ohm: float = _knob("classifies_b_up_to_ohm")
    classifies_c_up_to_ohm: float = _knob("classifies_c_up_to_ohm")
    classifies_c_down_to_ohm: float = _knob("classifies_c_down_to_ohm")
    closes_on_a_to_c_jump: bool = _knob("closes_on_a_to_c_jump")
    min_current_duty_pct: float = _knob("min_current_duty_pct")
    zero_setting_offers_min: bool = _knob("zero_setting_offers_min")
    pwm_update_min_interval_s: float = _knob("pwm_update_min_interval_s")
    c1_cutoff_s: float = _knob("c1_cutoff_s")
    wake_up_enabled: bool = _knob("wake_up_enabled")
    wake_up_after_s: float = _knob("wake_up_after_s")
    wake_up_step_s: float = _knob("wake_up_step_s")
    state_e_open_delay_ms: float = _knob("state_e_open_delay_ms")
    fault_hold_s: float = _knob("fault_hold_s")
    ventilation_supported: bool = _knob("ventilation_supported")


@dataclass(frozen=True)
class ContactorKnobs:
    """The contactor: closing and opening, over-current cut-off, weld detection."""

    close_delay_ms: float = _knob("contactor_close_delay_ms")
    open_delay_ms: float = _knob("contactor_open_delay_ms")
    overcurrent_trip_s: float = _knob("overcurrent_trip_s")
    overcurrent_detection: bool = _knob("overcurrent_detection")
    weld_detection: bool = _knob("weld_detection")
    weld_check_after_open_ms: float = _knob("weld_check_after_open_ms")


@dataclass(frozen=True)
class RcdKnobs:
    """The residual current monitor (IEC 62955)."""

    ac_trip_ma: float = _knob("rcd_ac_trip_ma")
    ac_trip_time_ms: float = _knob("rcd_ac_trip_time_ms")
    dc_trip_ma: float = _knob("rcd_dc_trip_ma")
    dc_trip_time_ms: float = _knob("rcd_dc_trip_time_ms")
    latch: bool = _knob("rcd_latch")


@dataclass(frozen=True)
class SupplyKnobs:
    """Supply supervision: voltage, frequency, phases, PE."""

    overvoltage_v: float = _knob("overvoltage_v")
    undervoltage_v: float = _knob("undervoltage_v")
    phase_supervision: bool = _knob("phase_supervision")
    single_phase_supported: bool = _knob("single_phase_supported")
    nominal_detection: bool = _knob("supply_nominal_detection")
    min_nominal_v: float = _knob("supply_min_nominal_v")
    max_nominal_v: float = _knob("supply_max_nominal_v")
    min_hz: float = _knob("supply_min_hz")
    max_hz: float = _knob("supply_max_hz")
    fault_delay_s: float = _knob("supply_fault_delay_s")
    pe_monitoring: bool = _knob("pe_monitoring")
    pe_fault_delay_ms: float = _knob("pe_fault_delay_ms")


@dataclass(frozen=True)
class ThermalKnobs:
    """The enclosure's temperature and what the firmware does about it."""

    overtemp_derate_c: float = _knob("overtemp_derate_c")
    overtemp_derate_fraction: float = _knob("overtemp_derate_fraction")
    overtemp_stop_c: float = _knob("overtemp_stop_c")
    overtemp_resume_c: float = _knob("overtemp_resume_c")
    overtemp_auto_resume: bool = _knob("overtemp_auto_resume")
    undertemp_stop_c: float = _knob("undertemp_stop_c")
    temperature_sample_s: float = _knob("temperature_sample_s")
    rise_c: float = _knob("thermal_rise_c")
    time_constant_s: float = _knob("thermal_time_constant_s")


@dataclass(frozen=True)
class ColdLoadKnobs:
    """The randomised restart after a mains loss."""

    restarts_after_mains_loss: bool = _knob("restarts_after_mains_loss")
    min_s: float = _knob("cold_load_min_s")
    max_s: float = _knob("cold_load_max_s")
    distribution: str = _knob("cold_load_distribution")
    seed_per_boot: bool = _knob("cold_load_seed_per_boot")
    every_boot: bool = _knob("cold_load_every_boot")


@dataclass(frozen=True)
class LedKnobs:
    """The LED bar's colours and patterns, the firmware update."""

    colour: str = _knob("led_colour")
    fault_colour: str = _knob("led_fault_colour")
    initialising: str = _knob("led_initialising")
    standby: str = _knob("led_standby")
    charging: str = _knob("led_charging")
    paused: str = _knob("led_paused")
    period_s: float = _knob("led_period_s")
    comms_module_fault: str = _knob("comms_module_fault")
    firmware_update: str = _knob("led_firmware_update")
    firmware_update_s: float = _knob("firmware_update_s")
    comms_defect_charging: str = _knob("led_comms_defect_charging")


@dataclass(frozen=True)
class MeterKnobs:
    """How the firmware polls and reads the Smart-Energy meter."""

    model: str = _knob("meter_model")
    id: int = _knob("meter_id")
    misread_model: str = _knob("meter_misread_model")
    misread: str = _knob("meter_misread")
    baud: int = _knob("meter_baud")
    parity: str = _knob("meter_parity")
    poll_interval_s: float = _knob("meter_poll_interval_s")
    retry_interval_s: float = _knob("meter_retry_interval_s")
    lost_after_s: float = _knob("meter_lost_after_s")
    stale_after_s: float = _knob("meter_stale_after_s")


@dataclass(frozen=True)
class EnergyKnobs:
    """Load management, dimming, solar charging."""

    load_management: bool = _knob("load_management")
    grid_limit_a: float = _knob("grid_limit_a")
    failsafe_current_a: float = _knob("failsafe_current_a")
    dimming_limit_w: float = _knob("dimming_limit_w")
    lm_response_s: float = _knob("lm_response_s")
    lm_pauses_below_min: bool = _knob("lm_pauses_below_min")
    solar_charging: bool = _knob("solar_charging")
    solar_min_current_a: float = _knob("solar_min_current_a")


@dataclass(frozen=True)
class OcppKnobs:
    """The OCPP 1.6J charge point (the communication module)."""

    connect_after_s: float = _knob("ocpp_connect_after_s")
    reconnect_s: float = _knob("ocpp_reconnect_s")
    status_delay_s: float = _knob("ocpp_status_delay_s")
    status_on_fault: str = _knob("ocpp_status_on_fault")
    meter_gain: float = _knob("ocpp_meter_gain")
    schedule_follow: bool = _knob("ocpp_schedule_follow")
    schedule_delay_s: float = _knob("ocpp_schedule_delay_s")
    stack_level_highest_wins: bool = _knob("ocpp_stack_level_highest_wins")
    honours_valid_to: bool = _knob("ocpp_honours_valid_to")
    offline_queue: bool = _knob("ocpp_offline_queue")
    unknown_idtag_charges: bool = _knob("ocpp_unknown_idtag_charges")
    power_loss_reason: str = _knob("ocpp_power_loss_reason")
    relative_on_wall_clock: bool = _knob("ocpp_relative_on_wall_clock")
    watts_at_nominal_v: bool = _knob("ocpp_watts_at_nominal_v")
    recurring_resets_at_midnight: bool = _knob("ocpp_recurring_resets_at_midnight")
    remote_start_waits: bool = _knob("ocpp_remote_start_waits")
    clear_applies: bool = _knob("ocpp_clear_applies")
    remote_profile_applies: bool = _knob("ocpp_remote_profile_applies")
    clock_aligned_offset_s: float = _knob("ocpp_clock_aligned_offset_s")
    connection_timeout_applies: bool = _knob("ocpp_connection_timeout_applies")
    availability_applies: bool = _knob("ocpp_availability_applies")
    availability_persists: bool = _knob("ocpp_availability_persists")
    txprofile_needs_transaction: bool = _knob("ocpp_txprofile_needs_transaction")
    composite_watts_inverted: bool = _knob("ocpp_composite_watts_inverted")
    composite_merges: bool = _knob("ocpp_composite_merges")
    status_repeats: int = _knob("ocpp_status_repeats")
    reset_ends_transaction: bool = _knob("ocpp_reset_ends_transaction")
    trigger_status_available: bool = _knob("ocpp_trigger_status_available")
    trigger_values_stale: bool = _knob("ocpp_trigger_values_stale")


@dataclass(frozen=True)
class AccessKnobs:
    """Access control: RFID, registration, the pairing button."""

    access_control: str = _knob("access_control")
    rfid_accepts_unregistered: bool = _knob("rfid_accepts_unregistered")
    rfid_stop_with_card: bool = _knob("rfid_stop_with_card")
    rfid_mifare_only: bool = _knob("rfid_mifare_only")
    registration_beeps: str = _knob("registration_beeps")
    registration_requires_idle: bool = _knob("registration_requires_idle")
    rfid_auth_delay_s: float = _knob("rfid_auth_delay_s")
    hlc_vehicle_registration: bool = _knob("hlc_vehicle_registration")
    hlc_authorises_any: bool = _knob("hlc_authorises_any")
    hlc_registers_without_setup_card: bool = _knob("hlc_registers_without_setup_card")
    hlc_registered_beep: str = _knob("hlc_registered_beep")
    hlc_auth_delay_s: float = _knob("hlc_auth_delay_s")
    hlc_registration_persists: bool = _knob("hlc_registration_persists")
    hlc_id_tag_prefix: str = _knob("hlc_id_tag_prefix")
    pairing_hold_s: float = _knob("pairing_hold_s")
    pairing_window_s: float = _knob("pairing_window_s")


@dataclass(frozen=True)
class Knobs:
    """Every knob of the simulated wallbox, validated when the lab starts (`Knobs.resolve`) and read by
    the firmware's parts as typed attributes (`knobs.rcd.ac_trip_ma`): a misspelt knob is mypy's error,
    not a KeyError in the middle of a run.  `values()` gives them back by the names users type."""

    dut: DutKnobs
    cp: CpKnobs
    contactor: ContactorKnobs
    rcd: RcdKnobs
    supply: SupplyKnobs
    thermal: ThermalKnobs
    cold_load: ColdLoadKnobs
    led: LedKnobs
    meter: MeterKnobs
    energy: EnergyKnobs
    ocpp: OcppKnobs
    access: AccessKnobs

    @classmethod
    def resolve(cls, overrides: Mapping[str, object]) -> Knobs:
        """Defaults overlaid with validated overrides (`resolve_knobs`), grouped."""
        return cls.of(resolve_knobs(overrides))

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Knobs:
        """Knobs from validated values by knob name (every knob present)."""
        groups = {}
        for group in fields(cls):
            record = KNOB_GROUPS[group.name]
            groups[group.name] = record(**{f.name: values[f.metadata["knob"]] for f in fields(record)})
        return cls(**groups)

    def values(self) -> dict[str, Any]:
        """Every knob by its name, in the knob table's order (provenance, the journal, `sim params`)."""
        flat = {f.metadata["knob"]: getattr(getattr(self, group.name), f.name)
                for group in fields(self) for f in fields(KNOB_GROUPS[group.name])}
        return {k.name: flat[k.name] for k in KNOBS}

    def replace(self, **changes: object) -> Knobs:
        """These knobs with some changed (by knob name, validated): a lab's variant of its DUT."""
        return Knobs.of(resolve_knobs({**self.values(), **changes}))

KNOB_GROUPS: dict[str, Any] = {"dut": DutKnobs, "cp": CpKnobs, "contactor": ContactorKnobs, "rcd": RcdKnobs, "supply": SupplyKnobs, "thermal": ThermalKnobs, "cold_load": ColdLoadKnobs, "led": LedKnobs, "meter": MeterKnobs, "energy": EnergyKnobs, "ocpp": OcppKnobs, "access": AccessKnobs}
"""Group name → its record class (the fields of `Knobs`)."""
