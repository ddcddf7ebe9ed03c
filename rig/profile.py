"""DUT profiles on disk (`rig/profiles/*.toml`): finding one by name or path, and parsing it into
the typed `core.profile.Profile` (every key a test reads required, typed and range-checked)."""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError
from core.profile import Profile, parse_profile
from core.tables import nearest

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"

__all__ = ["PROFILE_DIR", "Profile", "available_profiles", "load_profile"]


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str, relative_to: Path | None = None, named_in: Path | None = None,
                 key: str = "rig.profile") -> Profile:
    """A bare name picks `rig/profiles/NAME.toml`; anything ending in .toml is a path (relative to
    `relative_to`).  `named_in` is the file that named the profile, for the error."""
    from instruments.meter.registers import model_names

    if name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
    else:
        path = PROFILE_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise ConfigError(named_in if named_in is not None else "--profile", key,
                              f"a profile name ({', '.join(available_profiles())}) or a path to a .toml file",
                              name_or_path, hint=nearest(name_or_path, available_profiles()))
    return parse_profile(path, tuple(model_names()))
