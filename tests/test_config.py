from __future__ import annotations

from pathlib import Path

import pytest

from backend.common.config import Settings, load_settings
from backend.common.errors import ConfigError


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "none.toml")
    assert s == Settings()
    assert s.generation.max_tokens == 512


def test_valid_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(
        'default_model = "mine"\n'
        "[generation]\ntemperature = 0.2\n"
        "[ui]\ntheme = 'assistant-light'\n[ui.keybindings]\nnew_conversation = 'ctrl+t'\n"
        "[[models]]\nname = 'mine'\npath = '~/m.gguf'\nn_ctx = 2048\n"
    )
    s = load_settings(p)
    assert s.default_model == "mine"
    assert s.generation.temperature == 0.2
    assert s.ui.keybindings == {"new_conversation": "ctrl+t"}
    assert s.models[0].path == Path("~/m.gguf").expanduser()
    assert s.models[0].n_ctx == 2048


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[generation]\ntemperature = 9\n", "generation.temperature"),
        ("[llama]\nn_ctx = 'big'\n", "llama.n_ctx"),
        ("[llama]\nn_threads = 0\n", "llama.n_threads"),
        ("colour = 'red'\n", "colour"),
        ("[[models]]\nname = 'x'\n", "models.0.path"),
    ],
)
def test_bad_value_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    assert field in str(err.value)
    assert str(p) in str(err.value)


def test_not_toml(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(p)


def test_every_field_is_documented() -> None:
    """Each settings field carries a docstring (the attribute docstring
    convention), so the README's reference can't silently go stale."""
    import ast
    import inspect

    import backend.common.config as cfg
    import backend.common.config_runtimes as runtimes

    nodes = [n for m in (cfg, runtimes) for n in ast.parse(inspect.getsource(m)).body]
    assert {"LlamaSettings", "Settings"} <= {getattr(n, "name", "") for n in nodes}
    for node in nodes:
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
            continue
        body = node.body
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                nxt = body[i + 1] if i + 1 < len(body) else None
                documented = (
                    isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)
                )
                # sub-sections document themselves through their class docstring
                section = isinstance(stmt.annotation, ast.Name) and stmt.annotation.id.endswith(
                    "Settings"
                )
                assert documented or section, f"{node.name}.{stmt.target.id} is undocumented"
