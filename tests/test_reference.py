"""The rig-file reference is generated from the drivers' own declarations; the shipped page is current."""

from __future__ import annotations

from rig.config import REPO_ROOT
from rig.reference import markdown
from rig.registry import BUILTIN_DRIVERS, load_object


def test_the_shipped_reference_is_what_the_drivers_declare() -> None:
    shipped = (REPO_ROOT / "docs" / "reference" / "drivers.md").read_text()
    assert shipped == markdown(), "docs/reference/drivers.md is stale: wallbox-rig rig drivers --markdown > it"


def test_every_built_in_driver_declares_how_it_is_reached_and_what_it_reads() -> None:
    for role, drivers in BUILTIN_DRIVERS.items():
        for name, target in drivers.items():
            cls = load_object(target)
            assert cls.opens is not None or cls.parts, f"{role}.{name}: neither an opener nor parts"
            for setting in cls.declared_settings().values():
                assert setting.doc, f"{role}.{name}: {setting.name} has no doc"
                if setting.default is not None:
                    assert setting.problem(setting.default) is None, f"{role}.{name}: bad default of {setting.name}"
