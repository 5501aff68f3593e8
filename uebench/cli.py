"""The ``uebench`` command line: run, sweep, list, leaderboard, scaling, report,
export-decathlon, dataset check, protect and compare."""

from __future__ import annotations

import os
import shutil
import time
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from tabulate import tabulate

from uebench.contracts import registry
from uebench.contracts.budget import check_epsilon
from uebench.contracts.params import (
    REQUIRED,
    format_value,
    from_signature,
    method_schema,
    parse_assignments,
    type_name,
)
from uebench.contracts.presets import get_preset
from uebench.contracts.scaling import AXES, axis_presets

if TYPE_CHECKING:
    from uebench.runner.pipeline import RunSpec

KINDS = {"methods": registry.methods, "victims": registry.victims,
         "datasets": registry.datasets, "defenses": registry.defenses,
         "presets": registry.presets}


def parse_epsilon(text: str) -> float:
    """``4/255``, ``0.0157`` or ``8/255`` -> a float in (0, 1]; ValueError otherwise."""
    try:
        value = float(Fraction(text.strip())) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"epsilon {text!r} is not a number (use e.g. 4/255 or 0.0157)") from None
    return check_epsilon(value, repr(text))


def parse_method_params(method: str, preset: str, items: tuple[str, ...]) -> dict[str, Any]:
    """``--param key=value`` pairs parsed and checked against METHOD's declared parameters
    under PRESET (``uebench.contracts.params``): a bad name or value is a one-line error."""
    from uebench.runner.released import RELEASED, ReleasedFolder

    method_cls = ReleasedFolder if method == RELEASED else registry.methods.get(method)
    schema = method_schema(method_cls, get_preset(preset))
    return parse_assignments(f"method {method!r}", schema, items)


class InputError(click.ClickException):
    """Bad input found while running (a corrupt file, a budget violation): exit code 2."""

    exit_code = 2


class EpsilonType(click.ParamType):
    name = "EPS"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        try:
            return parse_epsilon(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


@click.group()
@click.version_option(package_name="uebench")
def main() -> None:
    """uebench: benchmark unlearnable-example protection of 3D medical segmentation data."""


@main.command()
@click.option("--method", default=None,
              help="Protection method (see `uebench list methods`); required unless "
                   "--train-data is given.")
@click.option("--victim", required=True, metavar="NAME[:KEY=VALUE,...]",
              help="Victim network trained on the released data, with its parameters "
                   "(unet:act=relu; see `uebench list victims`).")
@click.option("--dataset", default="brats-mni", show_default=True,
              help="Dataset name, or LAYOUT:PATH for a local folder (decathlon:PATH for "
                   "MSD/nnU-Net, brats:PATH, flare:PATH; see `uebench list datasets`).")
@click.option("--defense", multiple=True, metavar="NAME[:KEY=VALUE,...][+...]",
              help="Countermeasure against the protection (default none), with parameters "
                   "after ':' (gaussian:sigma=1.5); repeat or join with '+' to combine "
                   "(`--defense zlowpass --defense affine`): data defenses apply first, then "
                   "training-time ones (see `uebench list defenses`).")
@click.option("--protected-fraction", "fraction", type=float, default=1.0, show_default=True,
              help="Share of the training cases protected (the rest stay clean: the defense "
                   "partial:fraction=F, combined with --defense).")
@click.option("--epsilon", "--eps", type=EpsilonType(), default="4/255", show_default=True,
              help="L-inf budget; fractions such as 4/255 are accepted.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the method and victims (>= 0).")
@click.option("--preset", default="quick", show_default=True,
              help="A registered preset (`uebench list presets`). quick: sized for 2 CPU "
                   "cores; paper: the reference settings (GPU).")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when present), cpu, or cuda[:N].")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Method parameter override, repeatable (e.g. --param lambda_z=0.5), "
                   "checked against the type of the method's default.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"),
              show_default=True, help="Folder for records (out/records) and the stage cache.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--train-data", default=None, metavar="SPEC",
              help="A released (protected) folder, e.g. decathlon:PROTECTED, written by "
                   "`uebench protect`: the victim trains on it instead of a method's output.")
@click.option("--test-data", default=None, metavar="SPEC",
              help="With --train-data: the clean folder it was made from (decathlon:CLEAN); "
                   "the clean-trained reference and the test split come from it.")
def run(method, victim, dataset, defense, fraction, epsilon, seed, preset, device, params, out,
        quiet, train_data, test_data):
    """Protect the training split with METHOD, train VICTIM on it and on clean data, evaluate
    both on the clean test split, and write a JSON record. With --train-data PROTECTED
    --test-data CLEAN, the protection is the released folder itself (pseudo-method
    `released`; --eps is the budget it is checked against)."""
    from uebench.results.context import board_context
    from uebench.results.records import summary
    from uebench.runner.defense_chain import at_fractions, canonical_defense
    from uebench.runner.pipeline import Pipeline, RunSpec, resolve
    from uebench.runner.released import RELEASED
    from uebench.runner.victim_spec import canonical_victim

    if quiet:
        os.environ["TQDM_DISABLE"] = "1"  # also silences dataset synthesis bars
    if (train_data is None) != (test_data is None):
        raise click.UsageError("--train-data and --test-data go together")
    if train_data is not None:
        if method is not None or params:
            raise click.UsageError("--train-data measures a released folder: no --method or "
                                   "--param with it")
        method, dataset, params = RELEASED, test_data, (f"data={train_data}",)
    elif method is None:
        raise click.UsageError("Missing option '--method' (or --train-data/--test-data).")
    try:
        spec = RunSpec(method=method, victim=canonical_victim(victim), dataset=dataset,
                       defense=canonical_defense(at_fractions(["+".join(defense) or "none"],
                                                              [fraction])),
                       epsilon=epsilon, seed=seed, preset=preset,
                       method_params=parse_method_params(method, preset, params))
        resolve(spec)
        pipeline = Pipeline(out, device=device, progress=not quiet)
    except (KeyError, ValueError, RuntimeError) as error:  # RuntimeError: torch's bad device
        raise click.UsageError(str(error)) from None
    try:
        record, path = pipeline.run(spec)
    except ValueError as error:
        raise InputError(str(error)) from None
    click.echo(summary(record))
    click.echo("\n".join(board_context(record)))
    click.echo(f"\nrecord: {path}")


@main.command()
@click.option("--method", "methods", multiple=True, metavar="NAME[:KEY=VALUE,...]",
              help="Method with its parameter overrides (voxshield:lambda_z=0), repeatable; "
                   "default: every registered method.")
@click.option("--victim", "victims", multiple=True, required=True,
              metavar="NAME[:KEY=VALUE,...]", help="Victim with its parameters, repeatable.")
@click.option("--epsilon", "--eps", "epsilons", type=EpsilonType(), multiple=True,
              default=("4/255",), show_default=True, help="L-inf budget, repeatable.")
@click.option("--seed", "seeds", type=click.IntRange(min=0), multiple=True, default=(0,),
              show_default=True, help="Seed (>= 0), repeatable.")
@click.option("--dataset", default="brats-mni", show_default=True,
              help="Dataset name, or LAYOUT:PATH for a local folder, as in run.")
@click.option("--defense", "defenses", multiple=True, default=("none",), show_default=True,
              metavar="NAME[:KEY=VALUE,...][+...]",
              help="Defense, repeatable: each value is one more column of the grid; '+' "
                   "combines defenses within one value (zlowpass+affine:prob=1.0).")
@click.option("--protected-fraction", "fractions", type=float, multiple=True,
              help="Share of the training cases protected, repeatable: each value is one more "
                   "column per defense (partial:fraction=F; 1.0 = every case, the default).")
@click.option("--preset", "presets", multiple=True,
              help="A registered preset (`uebench list presets`), repeatable: the grid runs "
                   "at each  [default: quick, unless --axis is given]")
@click.option("--axis", "axes", multiple=True, type=click.Choice(list(AXES)),
              help="A scale-study axis, repeatable: adds the presets of its points, in order "
                   "(canary, on every axis, once; see `uebench scaling`).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, or cuda[:N].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"),
              show_default=True, help="Folder for records (out/records) and the stage cache.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes (default 1); above 1, each distinct stage (protection, clean "
                   "victim, protected victim) runs once, in parallel where independent. Ray: "
                   "the CPUs of a new local cluster are workers x threads; slurm: the most "
                   "stages in flight (default: all that are ready).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch threads per worker process (default: cores / workers); with ray or "
                   "slurm also the CPUs each stage asks for (default 1 on a cluster).")
@click.option("--executor", type=click.Choice(["local", "ray", "slurm"]), default="local",
              show_default=True,
              help="Where stages run: processes here, Ray tasks, or Slurm array jobs "
                   "(submitit). OUT must be a path every worker sees.")
@click.option("--address", default=None,
              help="Ray: the address of an existing cluster (default: $RAY_ADDRESS, else start "
                   "a local one).")
@click.option("--gpus-per-task", type=click.FloatRange(min=0), default=None,
              help="Ray/slurm: GPUs each stage asks for (default 1 with --device cuda, else 0; "
                   "Ray takes a fraction to share a GPU).")
@click.option("--slurm-folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Slurm: job scripts and logs (default OUT/slurm).")
@click.option("--slurm-cluster", type=click.Choice(["slurm", "local"]), default="slurm",
              show_default=True, help="Slurm: 'local' runs the jobs as processes here.")
@click.option("--slurm-param", "slurm_params", multiple=True, metavar="KEY=VALUE",
              help="Slurm: submitit parameter, repeatable (slurm_partition=gpu, "
                   "timeout_min=600, mem_gb=32).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def sweep(methods, victims, epsilons, seeds, dataset, defenses, fractions, presets, axes, device,
          out, workers, threads, executor, address, gpus_per_task, slurm_folder, slurm_cluster,
          slurm_params, quiet):
    """Run the grid METHODS x VICTIMS x EPSILONS x SEEDS at each preset (--preset, then the
    points of each --axis), skipping runs already recorded in OUT; then render it with
    `uebench leaderboard --add OUT/records` (or, for --axis, `uebench scaling OUT/records`)."""
    import torch

    from uebench.grid.executors import ExecutorError, execute_ray, execute_slurm
    from uebench.grid.sweep import execute, pending
    from uebench.runner.pipeline import resolve
    from uebench.runner.training import resolve_device

    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
    if address and executor != "ray":
        raise click.UsageError("--address is for --executor ray")
    if (slurm_folder or slurm_params) and executor != "slurm":
        raise click.UsageError("--slurm-folder and --slurm-param are for --executor slurm")
    try:
        presets = sweep_presets(presets, axes)
        specs = sweep_grid(methods, victims, epsilons, seeds, dataset, defenses, fractions,
                           presets)
        for spec in specs:
            resolve(spec)
        if executor == "local":
            resolve_device(device)
        elif device != "auto":
            torch.device(device)  # the workers' device: checked there, its name here
        params = parse_assignments("", None, slurm_params, option="--slurm-param")
    except (KeyError, ValueError, RuntimeError) as error:
        raise click.UsageError(str(error)) from None
    todo = pending(specs, out)
    click.echo(f"{len(specs)} runs in the grid, {len(specs) - len(todo)} already recorded"
               + (f"; presets {', '.join(presets)}" if len(presets) > 1 else "")
               + (f"; {workers} worker processes" if executor == "local" and (workers or 1) > 1
                  else "") + (f"; executor {executor}" if executor != "local" else ""))
    landed = []

    def report(outcome):
        landed.append(outcome)
        spec = outcome.spec
        label = (f"[{len(landed)}/{len(todo)}] {spec.method} vs {spec.victim}, "
                 f"eps {spec.epsilon:.5f}, seed {spec.seed}"
                 + (f", defense {spec.defense}" if spec.defense != "none" else "")
                 + (f", preset {spec.preset}" if len(presets) > 1 else ""))
        if outcome.error:
            click.echo(f"{label}: FAILED: {outcome.error}", err=True)
            return
        efficacy = outcome.record["efficacy"]
        click.echo(f"{label}: DSC {efficacy['clean_trained']['dsc_fg_mean']:.3f} -> "
                   f"{efficacy['protected_trained']['dsc_fg_mean']:.3f} ({outcome.path.name})")

    started = time.perf_counter()
    try:
        if executor == "ray":
            outcomes = execute_ray(todo, out, device, address, workers or 1, threads,
                                   gpus_per_task, report)
        elif executor == "slurm":
            outcomes = execute_slurm(todo, out, device, slurm_folder, slurm_cluster, workers,
                                     threads, gpus_per_task, params, report)
        else:
            outcomes = execute(todo, out, device, workers or 1, threads, progress=not quiet,
                               report=report)
    except ExecutorError as error:
        raise InputError(str(error)) from None
    failed = [o for o in outcomes if o.error]
    click.echo(f"sweep wall time: {time.perf_counter() - started:.1f} s")
    if failed:
        raise InputError(f"{len(failed)} of {len(todo)} runs failed:\n"
                         + "\n".join(f"{o.spec.run_id()}: {o.error}" for o in failed))


def sweep_grid(methods: tuple[str, ...], victims: tuple[str, ...], epsilons: tuple[float, ...],
               seeds: tuple[int, ...], dataset: str, defenses: tuple[str, ...],
               fractions: tuple[float, ...], presets: list[str]) -> list[RunSpec]:
    """The runs of a sweep with these options, preset by preset (every registered method when
    ``methods`` is empty; each defense and protected fraction one more column)."""
    from uebench.grid.sweep import plan
    from uebench.runner.defense_chain import at_fractions

    columns = at_fractions(defenses, fractions)
    return [spec for preset in presets
            for spec in plan(methods or registry.methods.names(), victims, epsilons, seeds,
                             dataset, preset, columns)]


def planned_runs(args: list[str]) -> list[RunSpec]:
    """The runs that ``uebench sweep ARGS`` plans, its arguments parsed by the command itself
    (its defaults included), so that a step's records can be told from the other steps'."""
    options = sweep.make_context("sweep", list(args)).params
    return sweep_grid(options["methods"], options["victims"], options["epsilons"],
                      options["seeds"], options["dataset"], options["defenses"],
                      options["fractions"], sweep_presets(options["presets"], options["axes"]))


def sweep_presets(presets: tuple[str, ...], axes: tuple[str, ...]) -> list[str]:
    """The presets a sweep runs at: ``presets``, then the points of each of ``axes``, each
    once; ``quick`` when neither is given."""
    if not presets and not axes:
        return ["quick"]
    return list(dict.fromkeys([*presets, *axis_presets(axes)]))


def defense_parameters(cls: type, width: int = 20) -> str | None:
    """The line under a defense or victim in ``uebench list``: its parameters, types and
    defaults, as a spec sets them (``gaussian:sigma=1.5``, ``unet:act=relu``); None for one
    without any."""
    declared = [f"{p.name}: {type_name(p.type)}"
                + ("" if p.default is REQUIRED else f" = {format_value(p.default)}")
                for p in from_signature(cls).values()]
    return f"  {'':<{width}} parameters: {', '.join(declared)}" if declared else None


def preset_table(names: list[str]) -> str:
    """The presets ``names`` as a table: sizes, schedule and what each is for."""
    from uebench.runner.data import SPLIT_FRACTIONS

    rows = []
    for name in names:
        preset = registry.presets.get(name)
        split = "/".join(map(str, preset.split) if preset.split
                         else (f"{f:.0%}" for f in SPLIT_FRACTIONS))
        if preset.split_pool is not None:
            split += f", val/test of the first {preset.split_pool}"
        volume = f"{preset.volume_size}^3"
        if preset.native:
            grid = f"{preset.target_spacing:g} mm" if preset.target_spacing else "own grid"
            volume = f"{grid}, {volume} patches x{preset.patches_per_case}"
        rows.append([name, volume, f"{preset.n_cases} ({split})",
                     preset.epochs, preset.batch_size, f"{preset.lr:g}",
                     preset.surrogate_updates, preset.recipe,
                     registry.presets.summaries.get(name, "")])
    table = tabulate(rows, headers=["preset", "volume", "cases (train/val/test)", "epochs",
                                    "batch", "lr", "surrogate cap", "recipe", "for"])
    return "\n".join(f"  {line}" for line in table.splitlines())


@main.command("list")
@click.argument("kind", required=False, type=click.Choice(sorted(KINDS)))
def list_plugins(kind):
    """List registered methods, victims, datasets, defenses and presets (or one KIND); methods
    and datasets that work on a native preset say [native grid]. A plugin that reuses a
    registered name or fails to load is reported, one line each, and exits 2."""
    import warnings

    problems = []
    for name in [kind] if kind else sorted(KINDS):
        click.echo(f"{name}:")
        with warnings.catch_warnings():  # reported below, one line each
            warnings.simplefilter("ignore", registry.PluginConflictWarning)
            entries = KINDS[name].names()
        if name == "presets":
            click.echo(preset_table(entries))
            entries = []
        width = max([20, *map(len, entries)])  # the name column fits the longest name
        for entry in entries:
            plugin = KINDS[name].get(entry)
            doc = getattr(plugin, "summary", "") or (plugin.__doc__ or "").strip()
            native = (" [native grid]" if name in ("methods", "datasets")
                      and getattr(plugin, "supports_native", False) else "")
            click.echo(f"  {entry:<{width}} {doc.splitlines()[0] if doc else ''}{native}")
            line = (defense_parameters(plugin, width) if name in ("defenses", "victims")
                    else None)
            if line:
                click.echo(line)
        problems += KINDS[name].problems
    if problems:
        raise InputError("\n".join(problems))


@main.command()
@click.option("--records", type=click.Path(file_okay=False, path_type=Path),
              default=Path("leaderboards/records"), show_default=True,
              help="Folder of committed records the tables are rendered from.")
@click.option("--add", "add_from", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="Copy these record files (or folders of them) into --records first.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("leaderboards"), show_default=True, help="Where tables are written.")
@click.option("--allow-dirty", is_flag=True,
              help="Accept records made with uncommitted changes (they keep git_dirty).")
@click.option("--new-dataset", is_flag=True,
              help="Accept records of a dataset / preset the boards do not show yet.")
def leaderboard(records, add_from, out, allow_dirty, new_dataset):
    """Render the grid, curves, eps50, defenses, efficacy, fidelity and throughput
    leaderboards (Markdown + CSV). Records added with --add must be of the current evaluation
    protocol, the boards' kind of device and dataset / preset, and made from committed code."""
    from uebench.results.leaderboard import admission_problems, render
    from uebench.results.records import (
        PROTOCOL_VERSION,
        RecordError,
        load_records,
        read_record,
    )

    paths = [path for source in add_from
             for path in (sorted(source.glob("*.json")) if source.is_dir() else [source])]
    try:  # an empty or new --records folder is fine when --add fills it
        board = load_records(records) if not paths or any(records.glob("*.json")) else []
    except RecordError as error:
        raise InputError(str(error)) from None
    refused = []
    for path in paths:
        try:
            problems = admission_problems(read_record(path), board, PROTOCOL_VERSION,
                                          allow_dirty, new_dataset)
        except RecordError as error:
            refused.append(str(error))
            continue
        refused += [f"{path}: {problem}" for problem in problems]
    if refused:  # one line for one refusal, a line per refusal for several
        raise InputError(f"refused {len(refused)} of {len(paths)} records, nothing added:"
                         + ("\n" if len(refused) > 1 else " ") + "\n".join(refused))
    records.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy2(path, records / path.name)
    try:
        written = render(records, out)
    except ValueError as error:  # RecordError, or records that mix protocols / devices
        raise InputError(str(error)) from None
    for path in written:
        click.echo(f"wrote {path}")


@main.command("scaling")
@click.argument("records", type=click.Path(file_okay=False, path_type=Path),
                default=Path("leaderboards/records"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("leaderboards"), show_default=True,
              help="Where scaling.md and scaling.csv are written.")
@click.option("--figure", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the paired difference to random-roi against each axis (PNG).")
def scaling_command(records, out, figure):
    """Render the scale study's board (scaling.md, scaling.csv) from the run records in
    RECORDS (default: leaderboards/records) whose preset is a point of an axis (`uebench
    list presets`: canary and canary-*): per axis point, method (voxshield, em, random-roi) and
    budget, the protected-trained DSC, its paired difference to the matched random-roi and
    the clean-trained reference; --figure PATH draws that difference against each axis."""
    from uebench.report.figures import scaling_figure
    from uebench.results.records import SURROGATE_MARK
    from uebench.results.scaling import render_scaling

    _board_and_figure(render_scaling, scaling_figure, records, out, figure,
                      "scale study: protected-trained DSC minus the matched random-roi "
                      f"({SURROGATE_MARK} = a seed's surrogate stopped below fit_dsc)")


def _board_and_figure(render, draw, records: Path, out: Path, figure: Path | None,
                      title: str) -> None:
    """Write a study's board with ``render(records, out)`` (a bad record or an empty study is
    exit 2 with its one line), then, with ``figure``, ``draw`` its cells there."""
    from uebench.report.figures import palette

    try:
        written, cells = render(records, out)
    except ValueError as error:  # RecordError, an empty study, mixed protocols / devices
        raise InputError(str(error)) from None
    for path in written:
        click.echo(f"wrote {path}")
    if figure is not None:
        figure.parent.mkdir(parents=True, exist_ok=True)
        colours = palette(dict(zip(cells["method"], cells["role"])))
        draw(cells, colours, figure.parent, figure.name, title)
        click.echo(f"wrote {figure}")


@main.command("walk")
@click.argument("records", type=click.Path(file_okay=False, path_type=Path),
                default=Path("leaderboards/recipe/records"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("leaderboards/recipe"), show_default=True,
              help="Where walk.md and walk.csv are written.")
@click.option("--figure", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw each protection's paired differences along the walk (PNG).")
def walk_command(records, out, figure):
    """Render the recipe walk's board (walk.md, walk.csv) from the run records in RECORDS
    whose preset is a step of the walk (`uebench list presets`: walk-* and canary-e200): per
    step, method and budget, the protected-trained DSC and its paired difference to the
    matched random-roi and to the clean-trained victim; --figure PATH draws both."""
    from uebench.report.figures import walk_figure
    from uebench.results.walk_board import render_walk

    _board_and_figure(render_walk, walk_figure, records, out, figure,
                      "recipe walk: the authors' recipe (left) to uebench's (right)")


@main.command("ablation")
@click.argument("records", type=click.Path(file_okay=False, path_type=Path),
                default=Path("leaderboards/recipe/ablation/records"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("leaderboards/recipe/ablation"), show_default=True,
              help="Where ablation.md, saturation.md and their CSVs are written.")
@click.option("--figure", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the generator's saturation per epoch (PNG).")
def ablation_command(records, out, figure):
    """Render VoxShield's ablation board (ablation.md: each variant's protected-trained DSC
    and its paired difference to random-roi and to the clean-trained victim, at one preset)
    and the saturation table (saturation.md: how fast each variant's delta reaches the bound
    and when its signs freeze) from the run records in RECORDS; --figure PATH draws the
    per-epoch saturation."""
    from uebench.report.figures import saturation_figure
    from uebench.results.ablation_board import render_ablation

    _board_and_figure(render_ablation, saturation_figure, records, out, figure,
                      "VoxShield's generator per epoch: saturation, sign flips and the "
                      "surrogate's fit (one line per seed)")


@main.command("export-decathlon")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dataset", default="brats-mni", show_default=True, help="Dataset to export.")
@click.option("--preset", default="quick", show_default=True, help="Preset the cases come from.")
@click.option("--n", "count", type=click.IntRange(min=3), default=None,
              help="Export only the first N cases.")
def export_decathlon_command(out, dataset, preset, count):
    """Write DATASET's cases as an MSD folder (int16 NIfTI, cropped, real affines) at OUT."""
    from uebench.custodian.export import BRATS_LABEL_VALUES, export_decathlon
    from uebench.runner.data import load_cases, resolve_dataset
    from uebench.runner.store import StageCache, default_cache_root

    try:
        source = resolve_dataset(dataset)
        cases = load_cases(source, get_preset(preset), StageCache(default_cache_root()))
    except (KeyError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    values = BRATS_LABEL_VALUES if source.regions else None
    path = export_decathlon(source, cases[:count], out, values)
    click.echo(f"wrote {len(cases[:count])} cases to {path} (use --dataset decathlon:{path})")


@main.command("report")
@click.argument("records", type=click.Path(file_okay=False, path_type=Path),
                default=Path("leaderboards/records"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("leaderboards/report"), show_default=True,
              help="Folder for the figures (PNG) and index.html.")
@click.option("--cache", "cache_root", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Stage cache the example and spectrum figures read the stored "
                                 "deltas from  [default: RECORDS/../cache]")
@click.option("--example", "example_id", metavar="RUN_ID", default=None,
              help="Run whose volumes are shown  [default: the voxshield run with the largest "
                   "L-inf budget]")
def report_command(records, out, cache_root, example_id):
    """Render figures and one static HTML page (OUT/index.html) from the run records in
    RECORDS (default: leaderboards/records): DSC-vs-budget curves per victim, DSC vs ROI PSNR,
    slices of one protected volume and the z-spectrum of the deltas."""
    from uebench.report.build import ReportError, build_report

    try:
        page = build_report(records, out, cache_root, example_id)
    except ReportError as error:
        raise InputError(str(error)) from None
    click.echo(f"wrote {page}")


@main.command("compare")
@click.argument("new", type=click.Path(file_okay=False, path_type=Path))
@click.argument("baseline", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dsc-tolerance", type=float, default=0.0, show_default=True,
              help="Protected DSC may rise this far above the baseline's 95 % interval.")
@click.option("--psnr-tolerance", type=float, default=0.5, show_default=True,
              help="ROI PSNR may fall this many dB below the baseline's.")
@click.option("--time-tolerance", type=float, default=0.25, show_default=True,
              help="Protect time / calibration time may exceed the baseline's by this fraction.")
@click.option("--min-seconds", type=float, default=1.0, show_default=True,
              help="Protections the baseline did in less time are not timed.")
def compare_command(new, baseline, dsc_tolerance, psnr_tolerance, time_tolerance, min_seconds):
    """Compare the run records in NEW with those in BASELINE, matched by spec (seeds pooled):
    exit 1 with a table of what moved when a method protects less (protected DSC above the
    baseline's interval), fidelity drops (ROI PSNR, budget) or protection slows down (times
    relative to a calibration workload timed in the same process); exit 0 when nothing moved."""
    from uebench.results.compare import CompareError, Tolerances, compare, render
    from uebench.results.records import RecordError

    tolerances = Tolerances(dsc_tolerance, psnr_tolerance, time_tolerance, min_seconds)
    try:
        result = compare(new, baseline, tolerances)
    except (CompareError, RecordError) as error:
        raise InputError(str(error)) from None
    click.echo(render(result))
    if result.regressions:
        click.get_current_context().exit(1)


@main.group("dataset")
def dataset_group():
    """Inspect local dataset folders in any registered folder layout."""


@dataset_group.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--layout", default="auto", show_default=True, metavar="LAYOUT",
              help="The folder's layout: auto (detected), or the name of a registered folder "
                   "dataset (`uebench list datasets`; decathlon covers MSD and nnU-Net v2).")
def dataset_check_command(path, layout):
    """Verify every file of the dataset folder at PATH, as nnU-Net's integrity check: every
    file present and readable, image/label shapes and affines equal, label values declared,
    no NaN/Inf, channel counts as declared. Prints every problem, one line each naming the
    file, and exits 2 when there is any; otherwise one summary line."""
    from uebench.contracts.folders import FolderError
    from uebench.custodian.folder_check import check_folder

    try:
        report = check_folder(path, layout)
    except FolderError as error:
        raise InputError(str(error)) from None
    for problem in report.problems:
        click.echo(problem)
    click.echo(report.summary(), err=bool(report.problems))
    if report.problems:
        raise SystemExit(2)


@main.command("protect")
@click.option("--method", required=True, help="Protection method (see `uebench list methods`).")
@click.option("--data", required=True, metavar="PATH",
              help="The dataset folder to protect, its layout detected (or LAYOUT:PATH, "
                   "e.g. decathlon:PATH for MSD and nnU-Net v2). Never written to.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where the protected copy goes: empty or new, outside PATH.")
@click.option("--epsilon", "--eps", type=EpsilonType(), default="4/255", show_default=True,
              help="L-inf budget in the normalised [0, 1] space.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the method (>= 0).")
@click.option("--preset", default="quick", show_default=True,
              help="The cube the method is fitted at (quick 64^3, paper 160^3).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, or cuda[:N].")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Method parameter override, repeatable.")
@click.option("--resume", is_flag=True,
              help="Finish an interrupted protect in OUT (same settings), skipping the files "
                   "its manifest records with matching sha256s.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def protect_command(method, data, out, epsilon, seed, preset, device, params, resume, quiet):
    """Write a protected copy of the dataset folder PATH into OUT in the same layout: METHOD
    is fitted on every case, each image file gets its delta on its own grid and in its own
    intensity units (header, dtype, affine kept; labels and dataset.json copied), every
    written file is read back and its budget verified in the normalised space, and
    OUT/uebench-protect.json records settings, sha256s and the effective eps per file.
    Exits 2, naming the file, when the storage breaks or erases the perturbation."""
    from uebench.custodian.protect import Settings, protect
    from uebench.runner.training import resolve_device

    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
    try:
        resolve_device(device)
    except (ValueError, RuntimeError) as error:  # RuntimeError: torch's bad device
        raise click.UsageError(str(error)) from None
    try:
        settings = Settings(method, parse_method_params(method, preset, params), epsilon, seed,
                            preset, device)
        manifest = protect(data, out, settings, resume=resume, progress=not quiet,
                           echo=click.echo)
    except (KeyError, ValueError) as error:  # ProtectError is a ValueError
        raise InputError(str(error)) from None
    summary = manifest["summary"]
    click.echo(f"protected {summary['cases']} cases ({summary['image_files']} image files) "
               f"into {out}; effective eps {summary['effective_eps_min'] * 255:.2f}/255 to "
               f"{summary['effective_eps_max'] * 255:.2f}/255 (budget {epsilon * 255:.2f}/255); "
               f"manifest: {Path(out) / 'uebench-protect.json'}")
    if summary["shrink_min"] is not None:
        click.echo(f"the budget fit scaled the deltas by {summary['shrink_min']:.2f} to "
                   f"{summary['shrink_max']:.2f} to hold eps on the files as read: the release "
                   "carries that share of the method's amplitude, not all of what an in-memory "
                   "run measures (docs/protecting.md)")


if __name__ == "__main__":
    main()
