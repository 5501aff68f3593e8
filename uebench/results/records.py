"""The run record's one home: its schema (typed), how it is assembled from the stage results,
how it is loaded, and every reading of it that more than one board needs.

A record is one JSON object per run (``out/records/<run_id>.json``). Boards, ``compare``,
``report`` and the benchmarks read it through this module only: the cell it belongs to
(``cell``), its budget (``norm``, ``budget_of``, ``budget_label``), its protocol and kind of
device, the role of its method (protection, control, matched control or the clean
reference) and the labels boards show. Records of every protocol load here: protocol 1
(``leaderboards/archive/protocol-1``, no ``protocol`` field, no dataset label, some without a
budget section), protocol 2 (``leaderboards/archive/protocol-2``), protocol 3
(``leaderboards/archive/protocol-3``) and protocol 4 (``leaderboards/records``,
``leaderboards/gpu/records``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from tabulate import tabulate

from uebench.contracts.budget import Budget, L0Budget, LinfBudget
from uebench.runner.store import read_json

if TYPE_CHECKING:  # hints only: reading records needs neither torch nor the datasets
    from uebench.contracts.core import Dataset, Preset
    from uebench.runner.data import Split

SCHEMA_VERSION = 1
# The evaluation protocol: what makes numbers comparable across records. Boards hold one
# protocol. 2: quick splits 14/3/16 (16 test volumes), the shared surrogate fit rule
# (uebench.kit.surrogates.FIT_RULE), NSD beside DSC and HD95. 3: the fit rule's cap is the
# preset's surrogate_updates, 1000 at every built-in preset (protocol 2: 120 at quick and
# canary, where VoxShield's surrogate never reached fit_dsc). 4: every record names its
# victim recipe (``recipe``: uebench.contracts.recipes; the preset names it, so no board pools
# two), its victim's activation (``victim``) and the clean test DSC per epoch
# (``throughput.victim_training.*.test_dsc``); ``paper`` runs the authors' recipe.
PROTOCOL_VERSION = 4

# What a method's rows are on the boards (``Method.role``, declared by the method's class).
PROTECTION, CONTROL, MATCHED_CONTROL, REFERENCE = (
    "protection", "control", "matched-control", "reference")
CONTROLS = (CONTROL, MATCHED_CONTROL)


class Spec(TypedDict):
    """What defines the run (``pipeline.RunSpec`` as a dict); its hash is the run id."""

    method: str
    victim: str
    dataset: str
    defense: str
    epsilon: float
    seed: int
    preset: str
    method_params: dict[str, Any]


class BudgetInfo(TypedDict, total=False):
    """``Budget.describe()``: ``norm`` and its bound (``epsilon`` or ``max_fraction``)."""

    norm: str
    epsilon: float
    max_fraction: float
    storage: str
    storage_scale: float


class MethodInfo(TypedDict, total=False):
    """``Method.describe()`` after ``fit``, with its budget and (records since the field) its
    role."""

    name: str
    norm: str
    epsilon: float
    params: dict[str, Any]
    deviations: str
    budget: BudgetInfo
    role: str


class Evaluation(TypedDict, total=False):
    """``runner.evaluation.evaluate`` of one victim on the clean test split."""

    dsc: dict[str, float | None]
    dsc_fg_mean: float | None
    dsc_regions_mean: float | None
    hd95_fg_mean: float | None
    nsd_fg_mean: float | None
    per_case: list[dict[str, Any]]
    n_cases: int


class Efficacy(TypedDict, total=False):
    clean_trained: Evaluation
    protected_trained: Evaluation
    dsc_drop: dict[str, float | None]
    reference_warning: str | None


class DatasetInfo(TypedDict, total=False):
    name: str
    spec: str
    fingerprint: str
    label: str
    class_names: list[str]
    regions: dict[str, list[int]]
    split: dict[str, int]
    volume_size: int  # the cube's edge, or the native grid's patch edge
    grid: str  # "native" only (absent: the cube)
    shape_min: list[int]
    shape_max: list[int]
    spacings: list[list[float]]


class Record(TypedDict, total=False):
    """One run record, as written to JSON (``schema_version`` 1)."""

    schema_version: int
    protocol: int
    run_id: str
    spec: Spec
    environment: dict[str, Any]
    method: MethodInfo
    dataset: DatasetInfo
    preset: dict[str, Any]
    efficacy: Efficacy
    fidelity: dict[str, Any]
    throughput: dict[str, Any]
    timings: dict[str, Any]


class RecordError(ValueError):
    """A records folder that is missing or empty, or a file that is not a run record."""


class Cell(NamedTuple):
    """Which cell of the boards a record belongs to; its seeds are pooled."""

    dataset: str
    preset: str
    victim: str
    defense: str
    method: str
    budget: str


CELL = list(Cell._fields)
SPEC_FIELDS = tuple(Spec.__annotations__)
SECTIONS = ("spec", "method", "dataset", "efficacy", "fidelity")  # what every reader needs


# ------------------------------------------------------------------------------- loading


def read_record(path: Path) -> Record:
    """The record in ``path``; ``RecordError`` naming the file when it is not readable JSON or
    not a run record (a section every reader needs is missing, or the spec lacks a field)."""
    path = Path(path)
    try:
        record = read_json(path)
    except ValueError as error:
        raise RecordError(str(error)) from None
    if not isinstance(record, dict):
        raise RecordError(f"{path}: not a uebench run record (not a JSON object)")
    missing = [section for section in SECTIONS if not isinstance(record.get(section), dict)]
    if missing:
        raise RecordError(f"{path}: not a uebench run record (no {', '.join(missing)})")
    missing = [f for f in SPEC_FIELDS if f != "method_params" and f not in record["spec"]]
    if missing:
        raise RecordError(f"{path}: not a uebench run record (spec lacks {', '.join(missing)})")
    return record


def load_records(folder: Path, what: str = "records") -> list[Record]:
    """Every ``*.json`` record under ``folder``, in file-name order; ``RecordError`` when the
    folder is missing, holds none, or one file is not a run record (``what`` names the
    folder in the message)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordError(f"{what} folder {folder} does not exist")
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise RecordError(f"{what} folder {folder} holds no run records (*.json)")
    return [read_record(path) for path in paths]


# ------------------------------------------------------------------------------ readings


def protocol_of(record: Record) -> int:
    """The evaluation protocol a record was made under (records before versioning: 1)."""
    return int(record.get("protocol", 1))


def _only(values: set, mixed: str) -> Any:
    """The one value in ``values``; ``ValueError`` naming them after ``mixed`` otherwise."""
    if len(values) > 1:
        raise ValueError(mixed.format(sorted(values)))
    return next(iter(values))


def single_protocol(records: list[Record]) -> int:
    """The one protocol ``records`` share; a clear error when they mix protocols."""
    return _only({protocol_of(r) for r in records},
                 "the records mix protocols {}; boards show one protocol: move the older "
                 "records out (leaderboards/archive/) or re-run them")


def device_kind(record: Record) -> str:
    """``cpu`` or ``cuda``: where the record's victims were trained."""
    device = str(record.get("environment", {}).get("device", "cpu"))
    return "cpu" if device.startswith("cpu") else "cuda"


def single_device_kind(records: list[Record]) -> str:
    """The one device kind ``records`` share; a clear error when CPU and GPU records mix."""
    return _only({device_kind(r) for r in records},
                 "the records mix devices {}; boards show one kind of device: keep GPU records "
                 "in their own folder (leaderboards/gpu/records)")


def budget_info(record: Record) -> BudgetInfo:
    """The run's budget description; records without one (protocol 1) were L-inf at the
    spec's epsilon unless the method declared another norm."""
    method = record["method"]
    return method.get("budget") or {"norm": method.get("norm", "linf"),
                                    "epsilon": record["spec"]["epsilon"]}


def norm(record: Record) -> str:
    """``linf`` or ``l0``: the norm the run's budget is stated in."""
    return budget_info(record).get("norm") or "linf"


def budget_of(record: Record) -> Budget:
    """The run's budget object, as the pipeline built it (int8 L-inf or float32 L0)."""
    if norm(record) == "l0":
        return L0Budget(float(budget_info(record)["max_fraction"]))
    return LinfBudget(float(record["spec"]["epsilon"]))


def linf_epsilon(record: Record) -> float:
    """The L-inf budget of the run; NaN for a run bounded in another norm."""
    return record["spec"]["epsilon"] if norm(record) == "linf" else math.nan


def epsilon_label(value: float) -> str:
    """``4/255`` for budgets on the 1/255 grid, else the number."""
    fraction = Fraction(value).limit_denominator(255 * 16)
    if fraction.denominator and 255 % fraction.denominator == 0:
        return f"{fraction.numerator * (255 // fraction.denominator)}/255"
    return f"{value:.4g}"


def describe_budget(budget: BudgetInfo, name_linf: bool = False) -> str:
    """``4/255`` (``L-inf 4/255`` with ``name_linf``), ``L0 0.78%``; another norm by its
    bounds."""
    if budget["norm"] == "linf":
        return ("L-inf " if name_linf else "") + epsilon_label(budget["epsilon"])
    if budget["norm"] == "l0":
        return f"L0 {budget['max_fraction']:.2%}"
    bounds = ", ".join(f"{key} {value:g}" for key, value in budget.items()
                       if isinstance(value, float))
    return f"{budget['norm']} {bounds}".strip()


def budget_label(record: Record) -> str:
    """The run's budget as boards show it: ``4/255`` for L-inf, ``L0 0.78%`` for L0."""
    if norm(record) == "linf":
        return epsilon_label(record["spec"]["epsilon"])
    return describe_budget(budget_info(record))


def method_label(record: Record) -> str:
    """``voxshield`` or, with overrides, ``voxshield[s_steps=40]``: rows never mix settings."""
    spec = record["spec"]
    params = spec.get("method_params") or {}
    if not params:
        return spec["method"]
    return f"{spec['method']}[{','.join(f'{k}={v}' for k, v in sorted(params.items()))}]"


def dataset_label(record: Record) -> str:
    """The record's dataset as boards show it (``decathlon:NAME#fingerprint`` for a local
    folder; records older than the label show their spec)."""
    return record["dataset"].get("label") or record["spec"]["dataset"]


def cell(record: Record) -> Cell:
    """The board cell of ``record``."""
    spec = record["spec"]
    return Cell(dataset_label(record), spec["preset"], spec["victim"], spec["defense"],
                method_label(record), budget_label(record))


def role(record: Record) -> str:
    """What the record's method is on the boards (``Method.role``): carried by the record
    since the field, else declared by the method's class in the registry; a method not
    registered here is a protection."""
    carried = record["method"].get("role")
    if carried:
        return carried
    from uebench.contracts import registry

    try:
        return registry.methods.get(record["spec"]["method"]).role
    except KeyError:
        return PROTECTION


class SurrogateState(TypedDict):
    """What a surrogate-based method's surrogate became (``method.surrogate``)."""

    updates: int | None  # None: an older record, which logged iterations, not updates
    train_dsc: float
    fit_dsc: float
    max_updates: int | None
    reached_fit_dsc: bool


def surrogate(record: Record) -> SurrogateState | None:
    """The record's ``method.surrogate`` (records since the field); for older records the last
    train foreground DSC its ``method.history`` logged against the fit rule's ``fit_dsc``;
    None for a method without a surrogate, or a record of a protocol without the fit rule."""
    method = record["method"]
    if "surrogate" in method:
        return method["surrogate"]
    logged = [row["surrogate_train_dsc"] for row in method.get("history", [])
              if "surrogate_train_dsc" in row]
    fit_dsc = method.get("params", {}).get("fit_dsc")
    if not logged or fit_dsc is None:
        return None
    return {"updates": None, "train_dsc": logged[-1], "fit_dsc": fit_dsc,
            "max_updates": method["params"].get("max_surrogate_updates"),
            "reached_fit_dsc": logged[-1] >= fit_dsc}


def surrogate_short(record: Record) -> bool:
    """Whether the record's surrogate stopped below ``fit_dsc`` (the update cap bound first):
    the method did not run as its authors define it. A fixed-epoch reference schedule
    (``schedule: reference``) has no DSC to stop at, so it is never short."""
    state = surrogate(record)
    return (state is not None and not state["reached_fit_dsc"]
            and state.get("schedule", "fit-rule") == "fit-rule")


SURROGATE_MARK = "†"
SURROGATE_MARK_TEXT = (f"{SURROGATE_MARK} = the method's surrogate stopped below fit_dsc (its "
                       "train foreground DSC on the data it trained on, when the update cap "
                       "bound first) in at least one of the cell's seeds: the method did not "
                       "run as its authors define it.")


def surrogate_warning(record: Record) -> str | None:
    """Why the run's method did not run as defined (its surrogate stopped below fit_dsc), or
    None."""
    if not surrogate_short(record):
        return None
    state = surrogate(record)
    updates = ("" if state["updates"] is None else f" after {state['updates']} updates")
    cap = "" if state["max_updates"] is None else f" (cap {state['max_updates']})"
    return (f"the surrogate stopped{updates}{cap} at train DSC {state['train_dsc']:.3f} < "
            f"fit_dsc {state['fit_dsc']}: {record['spec']['method']} did not run as its authors "
            "define it, so this run's protection numbers do not measure the method")


def class_names(record: Record) -> list[str]:
    """The foreground class names, in label order (what per-case scores are keyed by)."""
    return record["dataset"]["class_names"]


# ------------------------------------------------------------------------------ assembly

# A clean-trained reference below either bar leaves nothing for a protection to remove:
# the run's protection numbers are then flagged (record: efficacy.reference_warning).
REFERENCE_MIN_FG_DSC = 0.7
REFERENCE_MIN_CLASS_DSC = 0.5


def reference_warning(clean: Evaluation,
                      class_names: list[str] | tuple[str, ...]) -> str | None:
    """Why the clean-trained victim is too weak for the run's protection numbers to mean
    anything (foreground-mean DSC < 0.7, or a class's DSC < 0.5), or None when it is not."""
    weak = []
    fg = clean.get("dsc_fg_mean")
    if fg is None:
        weak.append("fg-mean DSC undefined")
    elif fg < REFERENCE_MIN_FG_DSC:
        weak.append(f"fg-mean DSC {fg:.3f} < {REFERENCE_MIN_FG_DSC}")
    for name in class_names:
        value = clean.get("dsc", {}).get(name)
        if value is not None and value < REFERENCE_MIN_CLASS_DSC:
            weak.append(f"{name} DSC {value:.3f} < {REFERENCE_MIN_CLASS_DSC}")
    if not weak:
        return None
    return (f"weak clean-trained victim ({', '.join(weak)}): there is little for a protection "
            "to remove, so this run's protection numbers mean little")


def label_dataset(spec: str, dataset: Dataset, data_fp: str) -> str:
    """The label a new record gives its dataset: the spec's name, or for a local folder
    (``decathlon:PATH``) the folder's own name and the first 8 characters of its
    fingerprint, never the path."""
    return spec if ":" not in spec else f"{dataset.label()}#{data_fp[:8]}"


def dataset_info(spec: str, dataset: Dataset, data_fp: str, split: Split,
                 preset: Preset) -> DatasetInfo:
    """The record's dataset section for ``dataset`` (a ``Dataset``) made from ``spec`` under
    ``preset``: on the native grid also the grid and the cases' shapes (smallest and largest
    per axis) and spacings."""
    info: DatasetInfo = {
        "name": dataset.name, "spec": spec, "fingerprint": data_fp,
        "label": label_dataset(spec, dataset, data_fp),
        "class_names": list(dataset.class_names),
        "regions": {k: list(v) for k, v in dataset.regions.items()},
        "split": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        "volume_size": preset.volume_size}
    if preset.native:
        cases = [*split.train, *split.val, *split.test]
        axes = list(zip(*(c.label.shape for c in cases)))
        info.update(grid="native", shape_min=[int(min(a)) for a in axes],
                    shape_max=[int(max(a)) for a in axes],
                    spacings=[list(s) for s in sorted({tuple(c.spacing) for c in cases})])
    return info


def _drop(clean: Evaluation, protected: Evaluation) -> dict[str, float | None]:
    def minus(a, b):
        return None if a is None or b is None else a - b

    drop = {"dsc_fg_mean": minus(clean["dsc_fg_mean"], protected["dsc_fg_mean"])}
    if "dsc_regions_mean" in clean:
        drop["dsc_regions_mean"] = minus(clean["dsc_regions_mean"], protected["dsc_regions_mean"])
    return drop


def assemble(run_id: str, spec: Spec, environment: dict[str, Any], method: MethodInfo,
             method_role: str, dataset: DatasetInfo, preset: dict[str, Any],
             protection: dict[str, Any], clean: dict[str, Any], protected: dict[str, Any],
             run_seconds: float, recipe: dict[str, Any] | None = None,
             victim: dict[str, Any] | None = None) -> Record:
    """The record of one run from its stage results: ``protection`` (the protect stage:
    fidelity, throughput), ``clean`` and ``protected`` (the victim stages: training,
    evaluation; ``from_cache`` when reused); ``recipe`` (how both victims trained) and
    ``victim`` (what the victim became under it), which the pipeline always gives."""
    stages = (("protect", protection), ("clean_victim", clean),
              ("protected_victim", protected))
    return {
        "schema_version": SCHEMA_VERSION,
        "protocol": PROTOCOL_VERSION,
        "run_id": run_id,
        "spec": spec,
        "environment": environment,
        "method": {**method, "role": method_role},
        "dataset": dataset,
        "preset": preset,
        **({} if recipe is None else {"recipe": recipe}),
        **({} if victim is None else {"victim": victim}),
        "efficacy": {
            "clean_trained": clean["evaluation"],
            "protected_trained": protected["evaluation"],
            "dsc_drop": _drop(clean["evaluation"], protected["evaluation"]),
            "reference_warning": reference_warning(clean["evaluation"],
                                                   dataset["class_names"]),
        },
        "fidelity": protection["fidelity"],
        "throughput": {"protect": protection["throughput"],
                       "victim_training": {"clean": clean["training"],
                                           "protected": protected["training"]}},
        "timings": {"run_seconds": run_seconds,
                    "stage_seconds": {"protect": protection["throughput"]["wall_seconds"],
                                      "clean_victim": clean.get("wall_seconds"),
                                      "protected_victim": protected.get("wall_seconds")},
                    "cached_stages": [name for name, stage in stages
                                      if stage.get("from_cache")]},
    }


def summary(record: Record) -> str:
    """The run's headline numbers as a small table (what ``uebench run`` prints), with the
    reference warning when the record carries one."""
    eff, fid = record["efficacy"], record["fidelity"]
    thr = record["throughput"]["protect"]

    def fmt(value, digits=3):
        return "—" if value is None else f"{value:.{digits}f}"

    rows = [
        ("clean-trained DSC (fg mean)", fmt(eff["clean_trained"]["dsc_fg_mean"])),
        ("protected-trained DSC (fg mean)", fmt(eff["protected_trained"]["dsc_fg_mean"])),
        ("DSC drop", fmt(eff["dsc_drop"]["dsc_fg_mean"])),
    ]
    if "dsc_regions_mean" in eff["clean_trained"]:
        rows.append(("regions DSC clean -> protected",
                     f"{fmt(eff['clean_trained']['dsc_regions_mean'])} -> "
                     f"{fmt(eff['protected_trained']['dsc_regions_mean'])}"))
    rows += [
        ("L-inf (x255, stored)", fmt(fid["linf"] * 255, 2)),
        ("changed voxels (stored)", f"{fid['l0_fraction']:.2%}"),
        ("PSNR whole / ROI (dB)", f"{fmt(fid['psnr_whole'], 1)} / {fmt(fid.get('psnr_roi'), 1)}"),
        ("SSIM whole / ROI", f"{fmt(fid['ssim_whole'], 4)} / {fmt(fid.get('ssim_roi'), 4)}"),
        ("protect wall time (s)", fmt(thr["wall_seconds"], 1)),
        ("protect volumes/s", fmt(thr["volumes_per_second"], 3)),
        ("victim s/epoch (protected)",
         fmt(record["throughput"]["victim_training"]["protected"]["seconds_per_epoch"], 2)),
        ("run wall time (s)", fmt(record["timings"]["run_seconds"], 1)),
        ("stages from cache", ", ".join(record["timings"]["cached_stages"]) or "none"),
    ]
    spec = record["spec"]
    title = (f"{spec['method']} vs {spec['victim']} on {spec['dataset']} "
             f"(budget {budget_label(record)}, defense {spec['defense']}, "
             f"preset {spec['preset']}, seed {spec['seed']})")
    text = title + "\n" + tabulate(rows, tablefmt="simple")
    warnings = [w for w in (eff.get("reference_warning"), surrogate_warning(record)) if w]
    return "\n".join([text, *(f"WARNING: {w}" for w in warnings)])
