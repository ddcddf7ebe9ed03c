"""The one place the HTML pages are rendered: Jinja2 templates in `reports/templates/`, autoescaped."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context)
