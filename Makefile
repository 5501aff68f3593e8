# The two commands of the README: `make demo` (the main job) and `make test`.
# Each creates .venv on first use. TORCH picks the wheel: torch==2.13.0 takes the CPU wheel
# on the project's machines and the CUDA build from PyPI on a Linux GPU machine.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo test bench canary leaderboard boards scaling walk lint docs docs-test

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

# The hot paths (benchmarks/test_hot_paths.py), timed (CPU seconds of the process) and compared
# with the committed baseline as ratios to the calibration workload timed in the same process
# (exit 1: slower).
BENCH_JSON ?= .benchmarks/hot_paths.json
BENCH_TOLERANCE ?= 0.25
BENCH_TIMER ?= time.process_time
bench: $(BIN)/.installed
	@mkdir -p $(dir $(BENCH_JSON))
	$(BIN)/python -m pytest benchmarks/test_hot_paths.py -q --benchmark-enable \
		--benchmark-only --benchmark-timer $(BENCH_TIMER) --benchmark-json $(BENCH_JSON)
	$(BIN)/python -m benchmarks.compare_hot_paths $(BENCH_JSON) --tolerance $(BENCH_TOLERANCE)

# The regression canary: a small deterministic sweep (canary preset) compared with the records
# committed in benchmarks/canary/baseline (uebench compare; exit 1: something moved).
# CANARY_ARGS: e.g. --out DIR (keep the run) or --update-baseline.
CANARY_ARGS ?=
CANARY_COMPARE ?= --dsc-tolerance 0.05 --time-tolerance 0.5
canary: $(BIN)/.installed
	$(BIN)/python -m benchmarks.run_canary $(CANARY_ARGS) -- $(CANARY_COMPARE)

leaderboard: $(BIN)/.installed
	$(BIN)/uebench leaderboard

# The protocol-4 boards (issue 32; leaderboards/methods/run.sh runs the same from a separate
# checkout and commits records as they land): the main board, every method and control on unet
# at canary-v48, seeds 0-3 (leaderboards/methods/README.md: what 4 seeds resolve there),
# 4/255 and 32/255 first, then 16/255 (8/255 cut for cost), added to leaderboards/records with
# its report; then the transfer board (every victim but vnet, cut for cost, at canary-v64,
# SegResNet at its own lr, 32/255; leaderboards/transfer) and the defense board (every defense
# at canary-v48, 32/255, with the undefended cells; leaderboards/defenses, its own stage cache,
# so it makes its protections again where run.sh shares them) for TRANSFER_METHODS and
# DEFENSE_METHODS, the methods the methods board shows to work (no default: `make boards` stops
# after the methods board until they are set). More than 12 hours of 2 CPU cores
# (leaderboards/methods/README.md); resumable.
BOARD_METHODS := voxshield voxshield:lambda_z=0 voxshield-pgd em em-classwise tap slicewise \
	slicewise-tap lsp ar rem ops clean random random-roi random-signs-roi random-signs-classwise
BOARD_VICTIMS := unet swinunetr unetr segresnet:lr=0.001 dynunet attentionunet basicunetplusplus unet2d
BOARD_DEFENSES := gaussian median zlowpass slice-shuffle lowres quantize jpeg gamma affine \
	affine-elastic nnunet-aug ueraser adv-train early-stop pretrained regrid renormalise
TRANSFER_METHODS ?=
DEFENSE_METHODS ?=
BOARDS := $(BIN)/uebench sweep --quiet --out runs/boards --workers 2 --threads 1
boards: $(BIN)/.installed
	$(BOARDS) --preset canary-v48 --victim unet $(BOARD_METHODS:%=--method %) \
		--seed 0 --seed 1 --seed 2 --seed 3 --eps 4/255 --eps 32/255
	$(BOARDS) --preset canary-v48 --victim unet $(BOARD_METHODS:%=--method %) \
		--seed 0 --seed 1 --seed 2 --seed 3 --eps 16/255
	$(BIN)/uebench leaderboard --add runs/boards/records
	$(BIN)/uebench report leaderboards/records --out leaderboards/report --cache runs/boards/cache
	@test -n "$(TRANSFER_METHODS)" -a -n "$(DEFENSE_METHODS)" || { echo "the methods board" \
		"is done: render it, then set TRANSFER_METHODS and DEFENSE_METHODS from its answer"; \
		exit 2; }
	$(BOARDS:runs/boards=runs/transfer) --preset canary-v64 $(BOARD_VICTIMS:%=--victim %) \
		$(TRANSFER_METHODS:%=--method %) --method clean --method random-roi \
		--seed 0 --seed 1 --seed 2 --eps 32/255
	$(BIN)/uebench leaderboard --records leaderboards/transfer/records \
		--out leaderboards/transfer --add runs/transfer/records
	$(BOARDS:runs/boards=runs/defenses) --preset canary-v48 --victim unet --defense none \
		$(BOARD_DEFENSES:%=--defense %) $(DEFENSE_METHODS:%=--method %) --method clean \
		--method random-roi --seed 0 --seed 1 --seed 2 --eps 32/255
	$(BIN)/uebench leaderboard --records leaderboards/defenses/records \
		--out leaderboards/defenses --add runs/defenses/records

# The scale study (docs/studies/scale.md; hours on 2 CPU cores), resumable from the committed
# records: 4/255 at every point, the 32/255 positive control at the base and each axis's
# largest point, then 8/255 (clean once per point: it takes no budget); then the board.
SCALING := $(BIN)/uebench sweep --quiet --out runs/scaling --workers 2 --victim unet \
	--seed 0 --seed 1 --seed 2 --method random-roi --method voxshield --method em
AXES := --axis surrogate-updates --axis epochs --axis volume --axis train-cases
scaling: $(BIN)/.installed
	mkdir -p runs/scaling/records
	cp -n leaderboards/scaling/records/*.json runs/scaling/records/
	$(SCALING) --method clean $(AXES) --eps 4/255
	$(SCALING) --preset canary --preset canary-u2000 --preset canary-e200 --preset canary-v64 \
		--preset canary-n40 --eps 32/255
	$(SCALING) $(AXES) --eps 8/255
	cp -n runs/scaling/records/*.json leaderboards/scaling/records/
	$(BIN)/uebench scaling leaderboards/scaling/records --out leaderboards/scaling \
		--figure leaderboards/scaling/scaling.png

# The recipe walk (issue 31; leaderboards/recipe): canary-e200 under each recipe from the
# authors' (walk-authors) to uebench's (canary-e200), then VoxShield's ablation at canary; hours
# on 2 CPU cores, resumable from the committed records; then the boards and their figures.
WALK := $(BIN)/uebench sweep --quiet --out runs/recipe --workers 2 --victim unet \
	--seed 0 --seed 1 --seed 2
WALK_METHODS := --method clean --method random-roi --method em --method voxshield
ABLATION := $(BIN)/uebench sweep --quiet --out runs/recipe-ablation --workers 2 --victim unet \
	--seed 0 --seed 1 --seed 2 --method clean --method random-roi --method voxshield \
	--method voxshield:lambda_z=0 --method voxshield:lambda_l=0 \
	--method voxshield:lambda_z=0,lambda_l=0 --method voxshield:lambda_z_area_scaled=true
walk: $(BIN)/.installed
	mkdir -p runs/recipe/records
	cp -n leaderboards/recipe/records/*.json runs/recipe/records/ 2>/dev/null || true
	$(WALK) $(WALK_METHODS) --eps 4/255 --preset walk-authors --preset walk-activation \
		--preset walk-augmentation --preset walk-optimiser --preset walk-schedule \
		--preset canary-e200
	$(WALK) $(WALK_METHODS) --eps 32/255 --eps 8/255 --preset walk-authors --preset canary-e200
	$(BIN)/uebench walk runs/recipe/records --out leaderboards/recipe \
		--figure leaderboards/recipe/walk.png
	mkdir -p runs/recipe-ablation/records
	cp -n leaderboards/recipe/ablation/records/*.json runs/recipe-ablation/records/ \
		2>/dev/null || true
	$(ABLATION) --eps 4/255 --eps 32/255 --preset canary
	$(BIN)/uebench ablation runs/recipe-ablation/records --out leaderboards/recipe/ablation \
		--figure leaderboards/recipe/ablation/saturation.png

lint: $(BIN)/.installed
	$(BIN)/ruff check uebench methods victims datasets defenses tests benchmarks docs

# The documentation site (mkdocs.yml, docs/): the leaderboard, method and catalogue pages are
# generated from the committed records and the registries (uebench/site, the MkDocs hook) and
# the site is built into site/ with --strict (a broken link or a missing page fails); then the
# screenshots of the main leaderboard and a method page (docs/screenshots/) in the system
# Chromium, or one line saying why not. `make docs-test` runs the browser tests on that site.
$(BIN)/.docs-installed: $(BIN)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,docs]'
	touch $@

docs: $(BIN)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	$(BIN)/python -m uebench.site.screenshot site docs/screenshots

docs-test: docs
	UEBENCH_SITE=site $(BIN)/python -m pytest -m browser tests/test_site_browser.py
