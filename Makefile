# reissue — the two commands a newcomer needs:
#   make demo   set up, render the built-in demo song and run the main job on it
#   make test   set up and run the whole test suite
#   make serve-demo   the web library with the A/B player on the demo song (http://127.0.0.1:8000/)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell scripts/find-python)
STAMP := $(VENV)/.installed

.PHONY: demo test setup bench bench-sound clean serve-demo

$(STAMP): pyproject.toml requirements.lock scripts/find-python
	@test -n "$(PYTHON)" || { echo "no suitable Python found (see scripts/find-python)"; exit 1; }
	@echo "reissue: building $(VENV) with $$($(PYTHON) --version) ($(PYTHON))"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test,ray]'
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reissue demo --out-dir demo-out

serve-demo: $(STAMP)
	$(VENV)/bin/reissue serve --demo --library demo-out/library.sqlite3 --open

test: $(STAMP)
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

bench-sound: $(STAMP)
	$(PY) benchmarks/sound.py

bench: bench-sound

clean:
	rm -rf $(VENV) demo-out benchmarks/out .pytest_cache
