"""Theme data: one TOML file per Textual theme, plus shared ``.tcss`` styles.

Data only. ``assistant.theming`` reads these files; this module only says
where they are.
"""

from pathlib import Path

THEMES_DIR = Path(__file__).parent
