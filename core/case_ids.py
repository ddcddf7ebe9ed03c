"""The OCPP certification tools' charge-point case ids, and which version's tool each belongs to:
1.6 numbers its cases (TC_003_CS, TC_011_2_CS), 2.0.1 names them by functional block (TC_E_01_CS).
Here, below the suite and the plugin, because both ask: the case map (conformance/cases) and a run's
records, which list the cases of the version the run's backend speaks."""

from __future__ import annotations

import re

CASE_ID_OF = {"1.6": re.compile(r"TC_\d{3}(_\d)?_CS"), "2.0.1": re.compile(r"TC_[A-P]_\d{2}_CS")}
CASE_ID = re.compile("|".join(form.pattern for form in CASE_ID_OF.values()))
"""A charge-point case id of either version."""


def version_of(case_id: str) -> str:
    """The OCPP version whose test tool names a case so."""
    for version, form in CASE_ID_OF.items():
        if form.fullmatch(case_id):
            return version
    raise ValueError(f"{case_id!r} is no charge-point case id of OCPP 1.6 (TC_003_CS) or 2.0.1 (TC_E_01_CS)")
