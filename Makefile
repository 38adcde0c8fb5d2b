# Two commands for a newcomer: `make demo` and `make test`. Both bootstrap .venv
# from nothing (python3.11 only) with the pinned versions in constraints.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: test demo bench check lock clean

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Parkway needs Python 3.11 (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

test: $(STAMP)
	$(VENV)/bin/pytest

demo: $(STAMP)
	bash scripts/demo.sh

bench: $(STAMP)
	$(PY) benchmarks/schedules.py
	$(PY) benchmarks/parking.py
	$(PY) benchmarks/migration.py

check: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest -q

# Re-pin after changing dependencies in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip && .lock-venv/bin/pip install --quiet -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^parkway' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .demo .pytest_cache
