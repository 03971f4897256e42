# kgen: `make run` trains (and, once the desktop app lands, opens it); `make test` runs the suite.
# Both bootstrap what they need: Debian packages (when root with apt), a venv, pinned packages.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kgen-installed
DEBIAN_PACKAGES := dataset-fashion-mnist
DEBIAN_STAMP := $(VENV)/.kgen-debian

.PHONY: run test lint bench install debian clean

run: install
	$(BIN)/kgen train vae --dataset digits --epochs 30

test: install
	QT_QPA_PLATFORM=offscreen KGEN_OFFLINE=1 $(BIN)/python -m pytest -q

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
$(DEBIAN_STAMP): Makefile
	@mkdir -p $(VENV)
	@if dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1; then \
		echo "Debian packages present: $(DEBIAN_PACKAGES)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) \
		|| echo "note: could not install $(DEBIAN_PACKAGES); going on without them"; \
	else \
		echo "note: not root or no apt-get; skipping Debian packages $(DEBIAN_PACKAGES)"; \
	fi
	@touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
