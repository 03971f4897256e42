# kgen: `make run` opens the desktop app; `make install-desktop` adds it to the desktop's app menu;
# `make test` runs the suite; `make demo` trains from the CLI;
# `make bench` measures performance and writes the figures into docs/BENCHMARKS.md.
# Each bootstraps what it needs: Debian packages (when root with apt), a venv, pinned packages.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kgen-installed
DATA_PACKAGES := dataset-fashion-mnist
# Qt's xcb platform plugin needs these for a real window (without them: "could not load the Qt
# platform plugin xcb").
GUI_PACKAGES := libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
	libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 libxcb-xinerama0 libegl1 libgl1 libfontconfig1 libdbus-1-3
DEBIAN_STAMP := $(VENV)/.kgen-debian
GUI_STAMP := $(VENV)/.kgen-debian-gui

.PHONY: run demo test lint install install-desktop clean bench

run: install $(GUI_STAMP)
	$(BIN)/kgen-studio

# The desktop launcher and icon for this user: kgen studio appears in the desktop's app menu and
# starts this checkout's venv. Remove with: rm $(DESKTOP_DIR)/kgen-studio.desktop $(ICON_DIR)/kgen-studio.svg
DESKTOP_DIR ?= $(HOME)/.local/share/applications
ICON_DIR ?= $(HOME)/.local/share/icons/hicolor/scalable/apps
install-desktop: install
	mkdir -p $(DESKTOP_DIR) $(ICON_DIR)
	cp assets/icons/kgen-studio.svg $(ICON_DIR)/kgen-studio.svg.tmp
	mv $(ICON_DIR)/kgen-studio.svg.tmp $(ICON_DIR)/kgen-studio.svg
	sed 's|^Exec=.*|Exec="$(abspath $(BIN))/kgen-studio"|' assets/kgen-studio.desktop > $(DESKTOP_DIR)/kgen-studio.desktop.tmp
	mv $(DESKTOP_DIR)/kgen-studio.desktop.tmp $(DESKTOP_DIR)/kgen-studio.desktop
	@if command -v update-desktop-database >/dev/null; then update-desktop-database -q $(DESKTOP_DIR) || true; fi
	@echo "installed $(DESKTOP_DIR)/kgen-studio.desktop (kgen studio in the app menu)"

demo: install
	$(BIN)/kgen train vae --dataset digits --epochs 30

test: install
	QT_QPA_PLATFORM=offscreen KGEN_OFFLINE=1 $(BIN)/python -m pytest -q

# Performance benchmarks (about 20 minutes on 2 cores): each script writes benchmarks/results/,
# then perf_report.py copies the tables into docs/BENCHMARKS.md. roofline.py reads
# compile_choices.py's results.
bench: install
	KGEN_OFFLINE=1 $(BIN)/python benchmarks/overhead.py
	KGEN_OFFLINE=1 $(BIN)/python benchmarks/pipeline.py
	KGEN_OFFLINE=1 $(BIN)/python benchmarks/compile_choices.py
	KGEN_OFFLINE=1 $(BIN)/python benchmarks/roofline.py
	KGEN_OFFLINE=1 $(BIN)/python benchmarks/time_to_quality.py --sweep
	KGEN_OFFLINE=1 $(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/perf_report.py

lint: install
	$(BIN)/ruff check kgen gui tests benchmarks

install: $(STAMP) $(DEBIAN_STAMP)

# The venv with pinned dependencies; redone only when the package or the pins change.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

# Debian packages: installed when running as root with apt-get, skipped (with a note) otherwise.
define apt_install
	@mkdir -p $(VENV)
	@if dpkg -s $(1) >/dev/null 2>&1; then \
		echo "Debian packages present: $(1)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) \
		|| echo "note: could not install $(1); going on without them"; \
	else \
		echo "note: not root or no apt-get; skipping Debian packages $(1)"; \
	fi
	@touch $@
endef

$(DEBIAN_STAMP): Makefile
	$(call apt_install,$(DATA_PACKAGES))

$(GUI_STAMP): Makefile
	$(call apt_install,$(GUI_PACKAGES))

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
