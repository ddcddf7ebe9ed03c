"""DUT profiles: the product facts a test expects, each traceable to a requirement ID.

Profiles are data (`rig/profiles/*.toml`); a test asks for `profile.value("electrical.phases")`
and a missing or mistyped fact is a config error naming the profile file, never a KeyError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.config import Table, read_toml
from rig.errors import ConfigError

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


@dataclass(frozen=True)
class Profile:
    path: Path
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["profile"]["id"])

    @property
    def name(self) -> str:
        return str(self.data["profile"]["name"])

    def value(self, dotted: str, kind: type | tuple[type, ...] = (int, float, str, bool, list)) -> Any:
        *tables, key = dotted.split(".")
        table = Table(self.data, self.path)
        for name in tables:
            sub = table.table(name, required=True)
            assert sub is not None
            table = sub
        return table.get(key, kind)

    def requirement_ids(self) -> list[str]:
        return [rid for section in self.data.values() if isinstance(section, dict)
                for rid in section.get("requirements", [])]


def load_profile(name_or_path: str, relative_to: Path | None = None) -> Profile:
    """A bare name picks `rig/profiles/NAME.toml`; anything with a suffix is a path."""
    if name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
    else:
        path = PROFILE_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise ConfigError(None, "rig.profile", f"a profile name ({', '.join(available_profiles())}) "
                              "or a path to a .toml file", name_or_path)
    data = read_toml(path)
    table = Table(data, path)
    head = table.table("profile", required=True)
    assert head is not None
    head.get("id", str)
    head.get("name", str)
    return Profile(path, data)
