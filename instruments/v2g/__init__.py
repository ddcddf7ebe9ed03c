"""ISO 15118 high-level communication, as far as a vehicle needs to identify itself (issue 29).

A vehicle that plugs in finds the charger (SDP over UDP), opens a V2GTP connection (TCP), agrees
a protocol (supportedAppProtocol) and starts a session with its EVCC ID, its MAC address
(SessionSetupReq).  That is where a wallbox that registers vehicles by their MAC decides; this
package carries those messages and no others:

- `exi`: the EXI 1.0 bit-packed stream and the datatypes these messages use;
- `messages`: supportedAppProtocolReq/Res and SessionSetupReq/Res of DIN 70121 and ISO 15118-2,
  their grammars written from the standards' schemas and checked byte for byte against published
  vectors (tests/test_v2g_exi.py);
- `v2gtp`: the V2G transfer protocol header and the SDP request and response (ISO 15118-2 §7.8,
  §7.10).

Both the rig's vehicle side (`instruments/ev_comms.py`) and the simulated wallbox's charger side
use it, as both sides of the fault box share its DBC: a wire format, not behaviour.  The charger's
decisions (which vehicle is registered, when to beep) are the simulated firmware's own.
"""
