"""assets/: shipped in the wheel and read as package data (an install outside the repository finds
them), the theme in one place, the icon on the app and its window, the desktop launcher."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel

from gui import theme

ROOT = Path(__file__).resolve().parents[1]
ASSETS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "assets").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts)
# What a build reads from the checkout (setup.cfg's packages and package data).
SOURCES = ("setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE", "kgen", "gui", "assets")
# Run from the wheel itself (a zip on sys.path, far from the repository): the assets can only be
# found there through importlib.resources.
FROM_THE_WHEEL = textwrap.dedent("""
    import json, sys
    from importlib.resources import files
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from gui import theme
    theme.apply(app)
    print(json.dumps({"theme": theme.__file__, "icon": [s.width() for s in app.windowIcon().availableSizes()],
                      "sheet": app.styleSheet(), "lessons": (files("assets") / "lessons" / "README.md").is_file()}))
""")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """kgen's wheel, built offline from a copy of this checkout's sources."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                           if (ROOT / name).is_dir() else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                    "-w", str(out)], check=True, capture_output=True, timeout=300)
    return next(out.glob("kgen-*.whl"))


def test_the_wheel_holds_every_asset_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(ASSETS) <= names, set(ASSETS) - names
    assert {"assets/icons/kgen-studio.svg", "assets/kgen-studio.desktop", "assets/theme/palette.json",
            "assets/theme/style.qss", "assets/lessons/README.md", "assets/lessons/vae-digits.toml"} <= names
    assert any(n.endswith(".dist-info/LICENSE") for n in names)


def test_the_installed_app_reads_its_assets_from_the_package(wheel, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(wheel), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", FROM_THE_WHEEL], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["theme"].startswith(str(wheel))  # the installed code, not this checkout's
    assert found["icon"] == list(theme.ICON_SIZES) and found["lessons"]
    assert theme.PALETTE.error_background in found["sheet"] and "@" not in found["sheet"]


def test_the_theme_reads_package_data_not_repository_paths():
    for path in (ROOT / "gui" / "theme.py", ROOT / "gui" / "app.py"):
        assert "__file__" not in path.read_text(encoding="utf-8")


def test_the_palette_is_every_colour_by_role():
    data = json.loads((ROOT / "assets" / "theme" / "palette.json").read_text(encoding="utf-8"))
    assert theme.Palette.from_json(json.dumps(data)) == theme.PALETTE
    assert len(theme.PALETTE.series) >= 8 and len(set(theme.PALETTE.series)) == len(theme.PALETTE.series)


@pytest.mark.parametrize(("change", "said"), [
    (lambda d: d.pop("muted"), "missing ['muted']"),
    (lambda d: d.update(shade="#000000"), "unknown ['shade']"),
    (lambda d: d.update(error="red"), "error must be '#rrggbb' colours, got 'red'"),
    (lambda d: d.update(heat=["#000000"]), "heat takes 3 colours"),
])
def test_a_broken_palette_is_a_one_line_error(change, said):
    data = json.loads((ROOT / "assets" / "theme" / "palette.json").read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(theme.ThemeError, match=re.escape(said)) as caught:
        theme.Palette.from_json(json.dumps(data))
    assert "\n" not in str(caught.value)


def test_the_stylesheet_takes_its_colours_from_the_palette():
    sheet = theme.stylesheet()
    assert "@" not in sheet and "/*" not in sheet
    assert f"color: {theme.PALETTE.error};" in sheet
    with pytest.raises(theme.ThemeError, match="@nope is not a colour"):
        theme.stylesheet(template="QLabel { color: @nope; }")


def test_no_view_writes_its_own_colours_or_stylesheets():
    """Colours and styles live in assets/theme/ only: views name a palette role or a style role."""
    inline = re.compile(r"""["']#[0-9a-fA-F]{3,8}["']|setStyleSheet\(|mkBrush\(\d|mkColor\(\d|QColor\(["']""")
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in sorted((ROOT / "gui").rglob("*.py"))
             if p.name != "theme.py"
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if inline.search(line)]
    assert not found, "\n".join(found)


@pytest.fixture
def themed(qapp):
    """The test session's application with the theme applied, restored afterwards."""
    style, palette, sheet = qapp.style().name(), QPalette(qapp.palette()), qapp.styleSheet()
    yield qapp
    qapp.setStyleSheet(sheet)
    qapp.setStyle(style)
    qapp.setPalette(palette)


def test_a_role_gives_a_widget_its_palette_colour(themed, qtbot):
    theme.apply(themed)
    label = QLabel("out of memory")
    qtbot.addWidget(label)
    theme.set_role(label, "error")
    label.ensurePolished()
    assert label.palette().color(label.foregroundRole()).name() == theme.PALETTE.error
    theme.set_role(label, None)
    assert label.palette().color(label.foregroundRole()).name() == theme.PALETTE.text
    assert themed.palette().color(QPalette.ColorRole.Highlight).name() == theme.PALETTE.accent


def test_the_app_and_its_window_carry_the_icon(themed, qtbot):
    import gc

    from gui.app import main

    seen = {}

    def look_and_close():
        window = QApplication.activeWindow() or QApplication.topLevelWidgets()[0]
        seen.update(window=window.windowIcon().availableSizes(), app=themed.windowIcon().availableSizes(),
                    sheet=themed.styleSheet(), desktop=themed.desktopFileName())
        QApplication.closeAllWindows()

    QTimer.singleShot(300, look_and_close)
    try:
        assert main([]) == 0
    finally:
        gc.unfreeze()
    assert len(seen["window"]) == len(seen["app"]) == len(theme.ICON_SIZES)
    assert seen["sheet"] == theme.stylesheet() and seen["desktop"] == theme.ICON_NAME


def test_make_install_desktop_installs_the_launcher_and_icon(tmp_path):
    apps, icons = tmp_path / "applications", tmp_path / "icons"
    done = subprocess.run(["make", "-s", "-o", "install", "install-desktop", f"DESKTOP_DIR={apps}",
                           f"ICON_DIR={icons}", f"BIN={Path(sys.executable).parent}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    entry = dict(line.split("=", 1) for line in (apps / "kgen-studio.desktop").read_text().splitlines() if "=" in line)
    assert entry["Exec"] == f'"{Path(sys.executable).parent.resolve()}/kgen-studio"'
    assert entry["Icon"] == theme.ICON_NAME and entry["Type"] == "Application" and entry["Name"] == "kgen studio"
    assert (icons / "kgen-studio.svg").read_bytes() == (ROOT / "assets" / "icons" / "kgen-studio.svg").read_bytes()
    assert not list(apps.glob("*.tmp")) and not list(icons.glob("*.tmp"))
