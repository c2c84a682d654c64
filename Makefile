# Two entry points for a fresh machine: `make demo` (main job) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.les-installed

.PHONY: install demo test lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# pip's own notices go to a log; it is printed only when the install fails
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" > $(VENV)/pip.log 2>&1 \
		|| { cat $(VENV)/pip.log; exit 1; }
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]" >> $(VENV)/pip.log 2>&1 \
		|| { cat $(VENV)/pip.log; exit 1; }
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/les demo

# Waiting OpenMP threads sleep instead of spinning: two test workers each running LightGBM
# on 2 threads otherwise spin against each other (measured: two concurrent trainings 15.5 s -> 7.5 s).
test: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -n 2 --dist loadgroup -q

lint: $(STAMP)
	$(BIN)/ruff check features training serving tests benchmarks

clean:
	rm -rf $(VENV) out
