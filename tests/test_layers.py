"""The import rule between kgen's layers, checked on every import statement (function-level ones
included): a module imports only from its own layer or the ones below it, and the library never
imports the app or Qt.

    base (errors, safe_io, data, config, registry, sizes, pictures, events, runs) < models < eval < train < services < cli
    and the app (gui) on top, beside cli
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = ("kgen", "kgen.errors", "kgen.safe_io", "kgen.data", "kgen.config", "kgen.registry", "kgen.sizes", "kgen.pictures",
        "kgen.events", "kgen.runs", "kgen.lessons", "kgen.latent_paths")
LAYERS = {"base": 0, "kgen.models": 1, "kgen.eval": 2, "kgen.train": 3, "kgen.services": 4, "kgen.cli": 5, "gui": 5}
QT = ("PySide6", "pyqtgraph", "shiboken6", "gui")


def layer_of(module: str) -> tuple[str, int] | None:
    """(layer name, rank) of a kgen or gui module; None for third-party modules."""
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if prefix != "base" and (module == prefix or module.startswith(prefix + ".")):
            return prefix, LAYERS[prefix]
    if any(module == b or module.startswith(b + ".") for b in BASE):
        return "base", 0
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, with relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
            # `from kgen import losses` imports the module kgen.losses
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", sources("kgen", "gui"), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down_the_layers(path):
    own_layer, own_rank = layer_of(module_name(path))
    wrong = []
    for line, module in imports(path):
        if path.parts[-2:] == ("kgen", "__init__.py") or module.startswith("kgen.") is False and not module.startswith("gui"):
            continue
        found = layer_of(module)
        if found and found[1] > own_rank and not (own_layer == "gui" and found[0] == "kgen.cli"):
            wrong.append(f"line {line}: {module} ({found[0]}) from the {own_layer} layer")
        if found and own_layer == "kgen.cli" and found[0] == "gui":
            wrong.append(f"line {line}: the CLI imports the app ({module})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", sources("kgen"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_imports_qt_or_the_app(path):
    bad = [f"line {line}: {module}" for line, module in imports(path) if module.split(".")[0] in QT]
    assert not bad, "\n".join(bad)


def test_the_app_never_imports_the_cli():
    bad = [f"{p.relative_to(ROOT)} line {line}: {module}" for p in sources("gui")
           for line, module in imports(p) if module == "kgen.cli" or module.startswith("kgen.cli.")]
    assert not bad, "\n".join(bad)


def test_no_module_name_is_used_in_both_kgen_and_gui():
    def names(folder):
        return {p.stem for p in (ROOT / folder).rglob("*.py") if p.stem != "__init__"} | \
            {p.name for p in (ROOT / folder).rglob("*") if p.is_dir() and p.name != "__pycache__"}
    assert not names("kgen") & names("gui")


def test_the_rule_itself_catches_an_upward_import(tmp_path):
    assert layer_of("kgen.models.vae") == ("kgen.models", 1)
    assert layer_of("kgen.runs") == ("base", 0)
    assert layer_of("kgen.services.follower") == ("kgen.services", 4)
    assert layer_of("numpy") is None
