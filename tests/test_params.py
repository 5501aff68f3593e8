"""Plugin parameters are parsed against their declared types and checked before a plugin is
built: a bad name or value is one line and exit 2 at the CLI, and the values that committed
records' specs hold keep their types (run ids hash them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner

from uebench.cli import main, parse_method_params
from uebench.contracts.params import (
    REQUIRED,
    ParameterError,
    check,
    checked,
    conforms,
    format_value,
    from_defaults,
    from_signature,
    parse_assignments,
    parse_value,
    type_name,
)

ROOT = Path(__file__).resolve().parents[1]


class Plugin:
    def __init__(self, size: int, sigma: float = 1.0, mode: Literal["hard", "soft"] = "hard",
                 window=(3, 3), name: str | None = None, *args, **kwargs) -> None:
        """A constructor with every kind of declared parameter."""


def test_the_schema_comes_from_annotations_or_defaults():
    schema = from_signature(Plugin)
    assert list(schema) == ["size", "sigma", "mode", "window", "name"]
    assert schema["size"].type is int and schema["size"].default is REQUIRED
    assert schema["sigma"].type is float and schema["sigma"].default == 1.0
    assert type_name(schema["window"].type) == "(int, int)"  # from the default
    assert type_name(schema["name"].type) == "str or None"
    assert type_name(schema["mode"].type) == "one of 'hard', 'soft'"
    assert list(from_signature(Plugin, skip=("size",))) == ["sigma", "mode", "window", "name"]
    assert from_signature(object) == {}

    class Unresolvable:
        def __init__(self, count: Missing = 3) -> None:  # noqa: F821
            """An annotation that names nothing importable: the default's type is used."""

    assert from_signature(Unresolvable)["count"].type is int
    defaults = from_defaults({"lambda_z": 0.2, "roi": "hard", "amp": True, "data": None})
    assert [type_name(p.type) for p in defaults.values()] == ["float", "str", "bool",
                                                              "any value"]


@pytest.mark.parametrize("value,tp,ok", [
    (1, float, True), (1.5, float, True), (True, float, False), ("1", float, False),
    (2, int, True), (2.0, int, False), (False, int, False), (True, bool, True), (1, bool, False),
    ((1, 2), tuple[float, float], True), ([1, 2], tuple[float, float], True),
    ((1,), tuple[float, float], False), ((1, 2, 3), tuple[int, ...], True),
    (None, int | None, True), ("x", int | None, False), ("soft", Literal["hard", "soft"], True),
    ("other", Literal["hard", "soft"], False), (object(), Any, True),
])
def test_conforms(value, tp, ok):
    assert conforms(value, tp) is ok


def test_text_is_parsed_against_the_declared_type():
    assert parse_value("16-32-64-128", str) == "16-32-64-128"  # a literal would be -208
    assert parse_value("'soft'", str) == "soft" and parse_value("3", str) == "3"
    assert parse_value("true", bool) is True and parse_value("False", bool) is False
    assert parse_value("4/255", float) == pytest.approx(4 / 255)
    assert parse_value("4/255") == "4/255"  # untyped: what --param always did
    assert parse_value("30") == 30 and isinstance(parse_value("30", float), int)
    assert parse_value("(0.5, 2)") == (0.5, 2) and parse_value("decathlon:/x") == "decathlon:/x"


@pytest.mark.parametrize("value", [1.5, 10, True, None, "soft", "a b", "16-32", (0.7, 1.5),
                                   (2,), "1e5", "True"])
def test_formatted_values_read_back(value):
    assert parse_value(format_value(value)) == value


def test_errors_name_the_parameter_and_the_type_or_the_close_matches():
    schema = from_signature(Plugin)
    with pytest.raises(ParameterError, match="^P parameter sigma expects float; got 'oops'$"):
        check("P", schema, {"size": 1, "sigma": "oops"})
    with pytest.raises(ParameterError, match="no parameter 'sigm'. Did you mean: sigma"):
        check("P", schema, {"size": 1, "sigm": 2})
    with pytest.raises(ParameterError, match="needs parameter.* size"):
        check("P", schema, {})
    with pytest.raises(ParameterError, match="is not KEY=VALUE"):
        parse_assignments("P", schema, ["size"])
    assert checked("P", schema, {"size": 2, "sigma": 1, "window": [1, 2]}) == {
        "size": 2, "sigma": 1.0, "window": (1, 2)}
    assert parse_assignments("P", None, ["anything=3", "x=y"]) == {"anything": 3, "x": "y"}


def test_method_params_keep_the_types_committed_run_ids_hash():
    from uebench.runner.pipeline import RunSpec

    record = json.loads((ROOT / "leaderboards/archive/protocol-1/records/"
                         "voxshield-unet-8851b3d45e.json").read_text())
    parsed = parse_method_params("voxshield", "quick", ("s_steps=40",))
    assert parsed == {"s_steps": 40} and type(parsed["s_steps"]) is int
    spec = RunSpec(**{**record["spec"], "method_params": parsed})
    assert spec.run_id() == record["run_id"]
    assert parse_method_params("voxshield", "quick", ("lambda_z=1", "amp=false")) == {
        "lambda_z": 1, "amp": False}  # an int stays an int: the id of such a run is unchanged
    assert parse_method_params("voxshield", "quick", ("surrogate_channels=8-16",)) == {
        "surrogate_channels": "8-16"}


def test_resolve_checks_method_params_given_in_python():
    from uebench.runner.pipeline import RunSpec, resolve

    spec = RunSpec("voxshield", "unet", "spheres", preset="tiny",
                   method_params={"lambda_z": "oops"})
    with pytest.raises(ParameterError, match="lambda_z expects float"):
        resolve(spec)


@pytest.mark.parametrize("command,param,message", [
    ("run", "lambda_z=oops", "method 'voxshield' parameter lambda_z expects float; got 'oops'"),
    ("run", "lamda_z=1", "no parameter 'lamda_z'. Did you mean: lambda_z"),
    ("run", "amp=2", "parameter amp expects bool; got 2"),
    ("run", "s_steps", "'s_steps' is not KEY=VALUE"),
    ("protect", "lambda_z=oops", "parameter lambda_z expects float; got 'oops'"),
])
def test_bad_method_parameters_exit_2_in_one_line(command, param, message, tmp_path):
    out = tmp_path / "out"
    if command == "run":
        args = ["run", "--method", "voxshield", "--victim", "unet", "--out", str(out)]
    else:
        args = ["protect", "--method", "voxshield", "--data", str(tmp_path), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--param", param])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if "Error" in line] == [
        line for line in result.output.splitlines() if message in line]
    assert not out.exists()


class Ranged:
    param_ranges = {"size": (1, None), "sigma": (0.0, 2.0), "window": (1, 9), "cap": (None, 5)}

    def __init__(self, size: int = 3, sigma: float = 1.0, window=(3, 3),
                 cap: int | None = None, mode: str = "hard") -> None:
        """Numeric parameters with ranges (a count, a bounded float, a tuple, an optional int)."""


def test_ranges_attach_to_the_schema_and_refuse_numbers_outside_in_one_line():
    schema = from_signature(Ranged)  # the class's own param_ranges
    assert (schema["size"].low, schema["size"].high) == (1, None)
    assert (schema["mode"].low, schema["mode"].high) == (None, None)
    assert from_signature(Ranged, ranges={})["size"].low is None
    assert from_defaults({"n": 2, "x": 0.5}, {"n": (1, None), "gone": (0, 1)})["n"].low == 1
    check("P", schema, {"size": 1, "sigma": 0.0, "window": (1, 9), "cap": None, "mode": "x"})
    check("P", schema, {"sigma": 2, "cap": -100})
    for values, message in [
        ({"size": 0}, "P parameter size must be >= 1; got 0"),
        ({"sigma": -3}, "P parameter sigma must be in [0, 2]; got -3"),
        ({"sigma": 2.5}, "P parameter sigma must be in [0, 2]; got 2.5"),
        ({"cap": 6}, "P parameter cap must be <= 5; got 6"),
        ({"window": (3, 10)}, "P parameter window must be in [1, 9] (each element); got (3, 10)"),
        ({"sigma": float("nan")}, "P parameter sigma must be finite and in [0, 2]; got nan"),
        ({"cap": 10**400}, "P parameter cap must be <= 5; got 1000"),
    ]:
        with pytest.raises(ParameterError) as error:
            check("P", schema, values)
        assert str(error.value).startswith(message) and "\n" not in str(error.value)
    with pytest.raises(ParameterError, match="must be finite and >= 1"):
        parse_assignments("P", from_defaults({"lr": 1.0}, {"lr": (1, None)}), ["lr=1e999"])


def test_a_method_checks_its_ranges_when_built_in_python():
    from uebench.contracts import registry
    from uebench.contracts.core import Preset

    quick = registry.presets.get("quick")
    assert isinstance(quick, Preset)
    em = registry.methods.get("em")
    with pytest.raises(ParameterError, match="^method 'em' parameter steps must be >= 1; got 0$"):
        em(4 / 255, quick, steps=0)
    # a DSC threshold above 1 is never reached, so the cap alone stops the fit: the tests use
    # 1.01, benchmarks/surrogate_learning.py 2.0
    assert em(4 / 255, quick, fit_dsc=2.0, max_surrogate_updates=1).params["fit_dsc"] == 2.0
    with pytest.raises(ParameterError, match="fit_dsc must be in \\[0, 2\\]; got -3"):
        em(4 / 255, quick, fit_dsc=-3)


def _schemas():
    """Every registered plugin's schema: methods under quick and paper, defenses, victims."""
    from uebench.contracts import registry
    from uebench.contracts.params import method_schema

    for preset in ("quick", "paper"):
        for name, cls in registry.methods.snapshot().items():
            yield f"method {name!r} ({preset})", method_schema(cls, registry.presets.get(preset))
    for kind in ("defenses", "victims"):
        for name, cls in getattr(registry, kind).snapshot().items():
            yield f"{kind[:-1]} {name!r}", from_signature(cls)


def test_every_numeric_parameter_of_every_plugin_declares_its_range():
    missing = [f"{owner}: {p.name}" for owner, schema in _schemas() for p in schema.values()
               if p.numeric and p.low is None and p.high is None]
    assert not missing, "numeric parameters without a range (param_ranges): " + ", ".join(
        missing)


def test_every_default_lies_in_its_range():
    outside = [f"{owner}: {p.name}={p.default!r} is not {p.range_text()}"
               for owner, schema in _schemas() for p in schema.values()
               if p.default is not REQUIRED and p.out_of_range(p.default)]
    assert not outside, "; ".join(outside)


def test_every_value_committed_records_hold_lies_in_its_range():
    """The ranges refuse nothing a committed record's method ran with (its full parameters,
    defaults included; records' defense specs are built in test_defenses)."""
    from uebench.contracts import registry
    from uebench.contracts.params import Parameter

    methods = registry.methods.snapshot()
    seen, outside = 0, []
    for path in [*ROOT.glob("leaderboards/**/*.json"), *ROOT.glob("benchmarks/**/*.json")]:
        record = json.loads(path.read_text())
        method = record.get("method") if isinstance(record, dict) else None
        if not isinstance(method, dict) or method.get("name") not in methods:
            continue
        ranges = methods[method["name"]].param_ranges
        for name, value in (method.get("params") or {}).items():
            if name in ranges:
                seen += 1
                if Parameter(name, Any, None, *ranges[name]).out_of_range(value):
                    outside.append(f"{path.relative_to(ROOT)}: {name}={value!r}")
    assert seen > 1000 and not outside, outside
