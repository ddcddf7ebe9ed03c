"""The messages a vehicle identifies itself with, and their EXI grammars.

The grammars follow EXI 1.0's schema-informed rules (§8.5.4: one state per particle; a state
with k productions codes them in ceil(log2 k) bits, and a state with one production still takes
one bit, since the default, non-strict grammars keep undeclared events on a second level) over
the schemas named below.  What each schema contributes is stated where it is used:

- **supportedAppProtocol** (ISO 15118-2:2014 Annex A, V2G_CI_AppProtocol.xsd, namespace
  urn:iso:15118:2:2010:AppProtocol): the document holds one of two global elements (2 bits with
  the wildcard); AppProtocol occurs 1 to 20 times; ProtocolNamespace anyURI (max. 100),
  VersionNumberMajor/Minor unsignedInt, SchemaID unsignedByte (8 bits), Priority 1 … 20 (5 bits,
  offset 1); the response's ResponseCode an enumeration of three (2 bits) and an optional SchemaID.
- **V2G_Message** of DIN SPEC 70121:2014 (its schemas use the namespace
  urn:iso:15118:2:2010:MsgDef) and of ISO 15118-2:2014 (urn:iso:15118:2:2013:MsgDef): the
  document's global elements, sorted as EXI sorts them, put V2G_Message at code 77 (DIN) and 76
  (ISO) of 7 bits; a Header (SessionID hexBinary, max. 8 octets; then Notification, Signature or
  the end: 2 bits) and a Body holding one element of the BodyElement substitution group, whose 35
  members and the end code in 6 bits (SessionSetupReq 29, SessionSetupRes 30 in both; the
  members' names sort the same way in both schemas).  SessionSetupReq holds the EVCCID (hexBinary:
  DIN at most 8 octets, ISO at most 6); SessionSetupRes a ResponseCode (an enumeration: 23 values
  in DIN, 26 in ISO, 5 bits either way), the EVSEID (DIN hexBinary, max. 32; ISO a string of 7 to
  37 characters) and an optional time stamp (DIN DateTimeNow, ISO EVSETimeStamp: a long).

The codes were read off the schemas' structure as above, and every one of them is pinned by a
published vector in tests/test_v2g_exi.py; the schema files themselves are not shipped here.
"""

from __future__ import annotations

from dataclasses import dataclass

from instruments.v2g.exi import BitReader, ExiError, reader, writer

SAP_RESPONSE_CODES = ("OK_SuccessfulNegotiation", "OK_SuccessfulNegotiationWithMinorDeviation", "Failed_NoNegotiation")
"""responseCodeType of V2G_CI_AppProtocol.xsd, in the schema's order (the EXI enumeration index)."""

RESPONSE_CODES_COMMON = ("OK", "OK_NewSessionEstablished", "OK_OldSessionJoined", "OK_CertificateExpiresSoon",
                         "FAILED", "FAILED_SequenceError", "FAILED_ServiceIDInvalid", "FAILED_UnknownSession",
                         "FAILED_ServiceSelectionInvalid", "FAILED_PaymentSelectionInvalid",
                         "FAILED_CertificateExpired", "FAILED_SignatureError", "FAILED_NoCertificateAvailable",
                         "FAILED_CertChainError", "FAILED_ChallengeInvalid", "FAILED_ContractCanceled",
                         "FAILED_WrongChargeParameter", "FAILED_PowerDeliveryNotApplied",
                         "FAILED_TariffSelectionInvalid", "FAILED_ChargingProfileInvalid")


@dataclass(frozen=True)
class Protocol:
    """One V2G message set a vehicle may offer in supportedAppProtocolReq."""

    key: str
    namespace: str
    """The ProtocolNamespace a vehicle offers it under."""
    major: int
    minor: int
    v2g_message_code: int
    """V2G_Message's index among the schema set's global elements (7 bits)."""
    evcc_id_max: int
    response_codes: tuple[str, ...]
    evse_id_is_text: bool


DIN = Protocol("din", "urn:din:70121:2012:MsgDef", 2, 0, 77, 8,
               RESPONSE_CODES_COMMON + ("FAILED_EVSEPresentVoltageToLow", "FAILED_MeteringSignatureNotValid",
                                        "FAILED_WrongEnergyTransferType"), evse_id_is_text=False)
ISO2 = Protocol("iso2", "urn:iso:15118:2:2013:MsgDef", 2, 0, 76, 6,
                RESPONSE_CODES_COMMON + ("FAILED_MeteringSignatureNotValid", "FAILED_NoChargeServiceSelected",
                                         "FAILED_WrongEnergyTransferMode", "FAILED_ContactorError",
                                         "FAILED_CertificateNotAllowedAtThisEVSE", "FAILED_CertificateRevoked"),
                evse_id_is_text=True)
PROTOCOLS = {p.namespace: p for p in (DIN, ISO2)}
BODY_CODES = {"SessionSetupReq": 29, "SessionSetupRes": 30}
"""Positions in the BodyElement substitution group (6 bits), the same in both schemas."""
BODY_NAMES = {v: k for k, v in BODY_CODES.items()}


@dataclass(frozen=True)
class AppProtocol:
    namespace: str
    major: int
    minor: int
    schema_id: int
    priority: int

    def __post_init__(self) -> None:
        if not 0 <= self.schema_id <= 255 or not 1 <= self.priority <= 20 or len(self.namespace) > 100:
            raise ExiError(f"not an AppProtocol the schema allows: {self}")


@dataclass(frozen=True)
class SupportedAppProtocolReq:
    protocols: tuple[AppProtocol, ...]


@dataclass(frozen=True)
class SupportedAppProtocolRes:
    response_code: str
    schema_id: int | None = None


@dataclass(frozen=True)
class SessionSetupReq:
    protocol: Protocol
    session_id: bytes
    evcc_id: bytes


@dataclass(frozen=True)
class SessionSetupRes:
    protocol: Protocol
    session_id: bytes
    response_code: str
    evse_id: str
    """ISO: the text; DIN (hexBinary): the octets as upper-case hex."""
    timestamp: int | None = None


# --- supportedAppProtocol -------------------------------------------------------------------------
def encode_sap(message: SupportedAppProtocolReq | SupportedAppProtocolRes) -> bytes:
    out = writer()
    if isinstance(message, SupportedAppProtocolReq):
        if not 1 <= len(message.protocols) <= 20:
            raise ExiError(f"1 to 20 AppProtocols, not {len(message.protocols)}")
        out.bits(0, 2)                                   # SE(supportedAppProtocolReq)
        for n, p in enumerate(message.protocols):
            out.bits(0, 1 if n == 0 else 2)              # SE(AppProtocol): first alone, then beside EE
            for value, write in ((p.namespace, lambda v: out.string(str(v))),
                                 (p.major, lambda v: out.unsigned(int(v))), (p.minor, lambda v: out.unsigned(int(v))),
                                 (p.schema_id, lambda v: out.bits(int(v), 8)),
                                 (p.priority, lambda v: out.bits(int(v) - 1, 5))):
                out.bits(0, 1)                           # SE(field)
                out.bits(0, 1)                           # CH (the schema's type)
                write(value)
                out.bits(0, 1)                           # EE(field)
            out.bits(0, 1)                               # EE(AppProtocol)
        if len(message.protocols) < 20:
            out.bits(1, 2)                               # EE, beside another SE(AppProtocol)
        else:
            out.bits(0, 1)                               # EE, the only production after the 20th
        return out.octets()
    out.bits(1, 2)                                       # SE(supportedAppProtocolRes)
    out.bits(0, 1)
    out.bits(0, 1)
    out.bits(SAP_RESPONSE_CODES.index(message.response_code), 2)
    out.bits(0, 1)
    if message.schema_id is None:
        out.bits(1, 2)                                   # EE
    else:
        out.bits(0, 2)                                   # SE(SchemaID)
        out.bits(0, 1)
        out.bits(message.schema_id, 8)
        out.bits(0, 1)
        out.bits(0, 1)                                   # EE
    return out.octets()


def decode_sap(data: bytes) -> SupportedAppProtocolReq | SupportedAppProtocolRes:
    r = reader(data)
    root = r.bits(2)
    if root == 0:
        protocols = []
        r.expect(1, 0, "SE(AppProtocol)")
        while True:
            values = []
            for read in (lambda: r.string(100), r.unsigned, r.unsigned, lambda: r.bits(8), lambda: r.bits(5) + 1):
                r.expect(1, 0, "SE of an AppProtocol field")
                r.expect(1, 0, "CH")
                values.append(read())
                r.expect(1, 0, "EE")
            r.expect(1, 0, "EE(AppProtocol)")
            protocols.append(AppProtocol(str(values[0]), int(values[1]), int(values[2]), int(values[3]),
                                         int(values[4])))
            if len(protocols) == 20 or r.bits(2) == 1:
                return SupportedAppProtocolReq(tuple(protocols))
    if root == 1:
        r.expect(1, 0, "SE(ResponseCode)")
        r.expect(1, 0, "CH")
        code = r.bits(2)
        if code >= len(SAP_RESPONSE_CODES):
            raise ExiError(f"ResponseCode {code} is not in the schema's enumeration")
        r.expect(1, 0, "EE")
        schema_id = None
        if r.bits(2) == 0:
            r.expect(1, 0, "CH")
            schema_id = r.bits(8)
            r.expect(1, 0, "EE")
        return SupportedAppProtocolRes(SAP_RESPONSE_CODES[code], schema_id)
    raise ExiError(f"document element code {root}: not a supportedAppProtocol message")


# --- V2G_Message: SessionSetup -----------------------------------------------------------------
def encode_v2g(message: SessionSetupReq | SessionSetupRes) -> bytes:
    p = message.protocol
    if len(message.session_id) > 8:
        raise ExiError(f"a SessionID of {len(message.session_id)} octets (at most 8)")
    out = writer()
    out.bits(p.v2g_message_code, 7)                      # SE(V2G_Message)
    out.bits(0, 1)                                       # SE(Header)
    out.bits(0, 1)                                       # SE(SessionID)
    out.bits(0, 1)                                       # CH
    out.binary(message.session_id)
    out.bits(0, 1)                                       # EE(SessionID)
    out.bits(2, 2)                                       # EE(Header): no Notification, no Signature
    out.bits(0, 1)                                       # SE(Body)
    name = type(message).__name__
    out.bits(BODY_CODES[name], 6)
    if isinstance(message, SessionSetupReq):
        if len(message.evcc_id) > p.evcc_id_max:
            raise ExiError(f"an EVCCID of {len(message.evcc_id)} octets ({p.key}: at most {p.evcc_id_max})")
        out.bits(0, 1)                                   # SE(EVCCID)
        out.bits(0, 1)
        out.binary(message.evcc_id)
        out.bits(0, 1)
    else:
        out.bits(0, 1)                                   # SE(ResponseCode)
        out.bits(0, 1)
        out.bits(p.response_codes.index(message.response_code), 5)
        out.bits(0, 1)
        out.bits(0, 1)                                   # SE(EVSEID)
        out.bits(0, 1)
        if p.evse_id_is_text:
            if not 7 <= len(message.evse_id) <= 37:
                raise ExiError(f"an ISO 15118-2 EVSEID has 7 to 37 characters, not {len(message.evse_id)}")
            out.string(message.evse_id)
        else:
            out.binary(bytes.fromhex(message.evse_id))
        out.bits(0, 1)
        if message.timestamp is None:
            out.bits(1, 2)                               # EE
        else:
            out.bits(0, 2)                               # SE(EVSETimeStamp / DateTimeNow)
            out.bits(0, 1)
            out.integer(message.timestamp)
            out.bits(0, 1)
            out.bits(0, 1)                               # EE
    out.bits(0, 1)                                       # EE of the message
    out.bits(0, 1)                                       # EE(Body)
    out.bits(0, 1)                                       # EE(V2G_Message)
    return out.octets()


def decode_v2g(data: bytes, protocol: Protocol) -> SessionSetupReq | SessionSetupRes:
    r = reader(data)
    r.expect(7, protocol.v2g_message_code, f"SE(V2G_Message) of {protocol.key}")
    r.expect(1, 0, "SE(Header)")
    r.expect(1, 0, "SE(SessionID)")
    r.expect(1, 0, "CH")
    session = r.binary(8)
    r.expect(1, 0, "EE(SessionID)")
    r.expect(2, 2, "EE(Header) (a Notification or Signature is not covered)")
    r.expect(1, 0, "SE(Body)")
    code = r.bits(6)
    name = BODY_NAMES.get(code)
    if name is None:
        raise ExiError(f"body element {code}: not SessionSetupReq or SessionSetupRes (this codec covers no other)")
    if name == "SessionSetupReq":
        r.expect(1, 0, "SE(EVCCID)")
        r.expect(1, 0, "CH")
        evcc = r.binary(protocol.evcc_id_max)
        r.expect(1, 0, "EE(EVCCID)")
        _end(r)
        return SessionSetupReq(protocol, session, evcc)
    r.expect(1, 0, "SE(ResponseCode)")
    r.expect(1, 0, "CH")
    index = r.bits(5)
    if index >= len(protocol.response_codes):
        raise ExiError(f"ResponseCode {index} is not in the {protocol.key} enumeration")
    r.expect(1, 0, "EE")
    r.expect(1, 0, "SE(EVSEID)")
    r.expect(1, 0, "CH")
    evse = r.string(37) if protocol.evse_id_is_text else r.binary(32).hex().upper()
    r.expect(1, 0, "EE")
    stamp = None
    if r.bits(2) == 0:
        r.expect(1, 0, "CH")
        stamp = r.integer()
        r.expect(1, 0, "EE")
        r.expect(1, 0, "EE(SessionSetupRes)")
    _end(r, own=False)
    return SessionSetupRes(protocol, session, protocol.response_codes[index], evse, stamp)


def _end(r: BitReader, own: bool = True) -> None:
    """The ends: of the body element (unless read already), the Body and V2G_Message."""
    for what in (("EE of the body element",) if own else ()) + ("EE(Body)", "EE(V2G_Message)"):
        r.expect(1, 0, what)
