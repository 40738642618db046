# Relevance Studio: `make run` serves the app on the bundled demo data; `make test` runs the tests.
# Both create .venv and install what is missing first (a fast no-op when nothing changed).

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501
PYTEST_ARGS ?=

.PHONY: run test install system-deps train clean bench

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m core.warmup
	@touch $(STAMP)

install: $(STAMP)

# Debian packages used by the tests: PostgreSQL (store tests) and Chromium (browser tests).
# Installed only when running as root and missing; without them those tests skip with a reason.
system-deps:
	@bash scripts/system-deps.sh

run: install
	$(VENV)/bin/relevance init
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# The tests in two passes: the others on pytest-xdist workers, then the browser tests alone (scripts/test.sh);
# PYTEST_ARGS go to both, e.g. PYTEST_ARGS="-k flags".
test: install system-deps
	PY=$(PY) bash scripts/test.sh $(PYTEST_ARGS)

# Rebuild the committed models in order: the teacher (the feature prior + e5 fine-tuned as a bi-encoder, its top 4
# layers at lr 3e-5: BiEncoderConfig's defaults; no cross-encoder), its labels on unlabeled pairs, then the students (student, student-human,
# student-mixed), with the commands recorded in their model cards. 2 CPU cores, 2026-11-30: 24 minutes wall for the
# teacher (test runs shared the machine), 25 for labelling 120k pairs (99 pairs/s)
# and training the students.
train: install
	$(VENV)/bin/relevance init
	$(VENV)/bin/relevance train teacher --biencoder
	$(VENV)/bin/relevance distill --k-bm25 200 --k-embed 200 --max-pairs 120000 --curve 0.25,0.5,1,2,5,10,15

bench: install
	$(PY) bench/import_speed.py

clean:
	rm -rf $(VENV) .cache
