# The two commands of the README: `make demo` (the main job) and `make test`.
# Each creates .venv on first use. TORCH picks the wheel: torch==2.13.0 takes the CPU wheel
# on the project's machines and the CUDA build from PyPI on a Linux GPU machine.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo test bench leaderboard matrix lint

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/uebench run --method voxshield --victim swinunetr

test: $(BIN)/.installed
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-only

leaderboard: $(BIN)/.installed
	$(BIN)/uebench leaderboard

# The issue's grid: every method on unet and swinunetr at 4/255 and 8/255, plus the slice-wise
# methods against the 2D slice victim (hours on 2 CPU cores; resumes where it stopped).
matrix: $(BIN)/.installed
	$(BIN)/uebench sweep --victim unet --victim swinunetr --eps 4/255 --eps 8/255 --quiet --out runs
	$(BIN)/uebench sweep --victim unet2d --method slicewise --method slicewise-tap \
		--method voxshield --eps 4/255 --eps 8/255 --quiet --out runs
	$(BIN)/uebench leaderboard --add runs/records

lint: $(BIN)/.installed
	$(BIN)/ruff check uebench methods victims datasets tests benchmarks docs
