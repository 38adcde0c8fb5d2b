# Two commands for a newcomer: `make demo` and `make test`. Both bootstrap .venv
# from nothing (Python 3.11, 3.12 or 3.13) with the pinned versions in constraints.txt.
# The first of python3.11, python3.12, python3.13, python3 that is one of those
# is used; `make PYTHON=/path/to/python test` picks another.
SUPPORTED_PYTHON := import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else 1)
ifndef PYTHON
PYTHON := $(firstword $(foreach py,python3.11 python3.12 python3.13 python3,$(shell $(py) -c '$(SUPPORTED_PYTHON)' 2>/dev/null && command -v $(py))) python3)
endif
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: test demo bench check lock clean

$(STAMP):
	@$(PYTHON) -c '$(SUPPORTED_PYTHON)' || { echo "Parkway needs Python 3.11, 3.12 or 3.13 ($(PYTHON) is not; set PYTHON=...)" >&2; exit 1; }
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
