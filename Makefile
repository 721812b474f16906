# reissue — the two commands a newcomer needs:
#   make demo   set up, render the built-in demo song and run the main job on it
#   make test   set up and run the whole test suite
#   make serve-demo   the web library with the A/B player on the demo song (http://127.0.0.1:8000/)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell scripts/find-python)
STAMP := $(VENV)/.installed

.PHONY: demo test setup bench bench-sound bench-accuracy bench-analysis bench-melody bench-refresh bench-batch clean serve-demo

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

# accuracy of the musical analysis vs ground truth (issue 3): build the sets (cached under
# benchmarks/data/accuracy, override with ACCURACY_DATA=...), then score reissue and the librosa
# baselines (needs the Debian packages fluidsynth and fluid-soundfont-gm)
ACCURACY_DATA ?= benchmarks/data/accuracy
bench-accuracy: $(STAMP)
	@command -v fluidsynth >/dev/null || { echo "bench-accuracy: 'fluidsynth' not found; install the Debian packages fluidsynth and fluid-soundfont-gm (apt-get install fluidsynth fluid-soundfont-gm)"; exit 1; }
	@test -f /usr/share/sounds/sf2/FluidR3_GM.sf2 || { echo "bench-accuracy: /usr/share/sounds/sf2/FluidR3_GM.sf2 not found; install the Debian package fluid-soundfont-gm"; exit 1; }
	@$(PY) -c "import music21" 2>/dev/null || { echo "bench-accuracy: the music21 package is missing; $(PY) -m pip install music21"; exit 1; }
	$(PY) benchmarks/accuracy/build.py --out $(ACCURACY_DATA)
	$(PY) benchmarks/accuracy/run.py --data $(ACCURACY_DATA)

bench-analysis: $(STAMP)
	$(PY) benchmarks/analysis.py

bench-melody: $(STAMP)
	$(PY) benchmarks/melody.py

bench-refresh: $(STAMP)
	$(PY) benchmarks/refresh.py

bench-batch: $(STAMP)
	$(PY) benchmarks/batch.py

bench: bench-sound bench-analysis bench-melody bench-refresh

clean:
	rm -rf $(VENV) demo-out benchmarks/out .pytest_cache
