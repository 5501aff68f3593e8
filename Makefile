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

# The protocol-2 curve sweep: every method and both controls on unet at 4, 8, 16 and 32/255
# (seed 0), three seeds at 4/255 and 32/255 for the controls, voxshield and em, and swinunetr
# and unet2d at 4/255 and 32/255 for the controls and voxshield. Two worker processes; each
# stage is computed once and cached, so it resumes where it stopped (hours on 2 CPU cores).
SWEEP := $(BIN)/uebench sweep --quiet --out runs --workers 2
matrix: $(BIN)/.installed
	$(SWEEP) --victim unet --eps 4/255 --eps 8/255 --eps 16/255 --eps 32/255 --seed 0
	$(SWEEP) --victim unet --method clean --method random --method random-roi \
		--method voxshield --method em --eps 4/255 --eps 32/255 --seed 1 --seed 2
	$(SWEEP) --victim unet2d --victim swinunetr --method clean --method random \
		--method random-roi --method voxshield --eps 4/255 --eps 32/255 --seed 0
	$(BIN)/uebench leaderboard --add runs/records
	$(BIN)/uebench report leaderboards/records --out leaderboards/report --cache runs/cache

lint: $(BIN)/.installed
	$(BIN)/ruff check uebench methods victims datasets tests benchmarks docs
