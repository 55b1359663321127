"""Loading the colour themes from ``themes/*.toml`` into Textual ``Theme``s.

Themes are data so users and packagers can add one without touching code;
each file holds the fields of ``textual.theme.Theme``.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

from themes import THEMES_DIR

DEFAULT_THEME = "assistant-dark"
_FIELDS = {f.name for f in fields(Theme)}


class ThemeFileError(ValueError):
    """A theme file is unreadable or has fields Textual does not know."""


def load_theme(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ThemeFileError(f"{path.name}: {err}") from None
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ThemeFileError(f"{path.name}: unknown fields {', '.join(unknown)}")
    if "name" not in data or "primary" not in data:
        raise ThemeFileError(f"{path.name}: 'name' and 'primary' are required")
    return Theme(**data)


def load_themes(folder: Path = THEMES_DIR) -> tuple[list[Theme], list[str]]:
    """Every theme in ``folder``, sorted by file name, plus one error per bad file."""
    themes, errors = [], []
    for path in sorted(folder.glob("*.toml")):
        try:
            themes.append(load_theme(path))
        except ThemeFileError as err:
            errors.append(str(err))
    return themes, errors


def choose_theme(configured: str | None, remembered: str | None, available: set[str]) -> str:
    """Config wins when set, then the theme last picked in the app, then the default."""
    for name in (configured, remembered):
        if name and name in available:
            return name
    return DEFAULT_THEME if DEFAULT_THEME in available else "textual-dark"
