"""The record's one home: committed records of every protocol load and read the same way, the
assembly rebuilds a committed record from its stage results, the loader names a bad file, and
the cell, budget label and role are defined once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uebench.results import records
from uebench.results.compare import spec_key

BOARDS = Path(__file__).resolve().parent.parent / "leaderboards"
ARCHIVE = BOARDS / "archive" / "protocol-1" / "records"
PROTOCOL_2 = BOARDS / "archive" / "protocol-2"

# (file, protocol, norm, budget label, role, device kind)
COMMITTED = [
    (ARCHIVE / "ar-unet-3c926f0c2d.json", 1, "linf", "4/255", "protection", "cpu"),
    (ARCHIVE / "random-roi-unet-352123a745.json", 1, "linf", "4/255", "matched-control", "cpu"),
    (ARCHIVE / "ops-unet-0242816d14.json", 1, "l0", "L0 0.78%", "protection", "cpu"),
    (PROTOCOL_2 / "cpu" / "records" / "clean-unet-0b0e6d3a0e.json", 2, "linf", "32/255",
     "reference", "cpu"),
    (PROTOCOL_2 / "gpu" / "records" / "ops-unet-0242816d14.json", 2, "l0", "L0 0.78%",
     "protection", "cuda"),
]


@pytest.mark.parametrize(("path", "protocol", "norm", "label", "role", "device"), COMMITTED,
                         ids=[f"p{c[1]}-{c[0].stem}" for c in COMMITTED])
def test_committed_records_of_each_protocol_read_the_same_way(path, protocol, norm, label, role,
                                                              device):
    record = records.read_record(path)
    assert record == json.loads(path.read_text())  # loading changes nothing
    assert records.protocol_of(record) == protocol
    assert records.norm(record) == norm and records.budget_of(record).norm == norm
    assert records.budget_label(record) == label
    assert records.role(record) == role  # old records: the method's declared role
    assert records.device_kind(record) == device
    spec = record["spec"]
    assert records.cell(record) == (spec["dataset"], spec["preset"], spec["victim"],
                                    spec["defense"], spec["method"], label)
    if norm == "linf":
        assert records.linf_epsilon(record) == spec["epsilon"]


@pytest.mark.parametrize("path", [c[0] for c in COMMITTED if c[1] == 2],
                         ids=lambda p: p.parent.parent.name + "-" + p.stem)
def test_assembly_rebuilds_a_committed_record_from_its_stage_results(path):
    """The format is unchanged: the committed record comes back, plus the method's role,
    stamped with the current protocol."""
    record = records.read_record(path)
    timings, throughput = record["timings"], record["throughput"]
    stages = {name: {"evaluation": record["efficacy"][side],
                     "training": throughput["victim_training"][kind],
                     "wall_seconds": timings["stage_seconds"][name],
                     "from_cache": name in timings["cached_stages"]}
              for name, side, kind in (("clean_victim", "clean_trained", "clean"),
                                       ("protected_victim", "protected_trained", "protected"))}
    protection = {"fidelity": record["fidelity"], "throughput": throughput["protect"],
                  "from_cache": "protect" in timings["cached_stages"]}
    rebuilt = records.assemble(
        record["run_id"], record["spec"], record["environment"], record["method"],
        records.role(record), record["dataset"], record["preset"], protection,
        stages["clean_victim"], stages["protected_victim"], timings["run_seconds"])
    assert rebuilt == {**record, "protocol": records.PROTOCOL_VERSION,
                       "method": {**record["method"], "role": records.role(record)}}


def test_a_record_that_carries_its_role_is_not_looked_up():
    record = records.read_record(COMMITTED[0][0])
    assert records.role({**record, "method": {**record["method"], "role": "control"}}) == (
        "control")
    unknown = {**record, "spec": {**record["spec"], "method": "not-installed-here"}}
    assert records.role(unknown) == records.PROTECTION


def test_loader_errors_name_the_folder_or_the_file(tmp_path):
    with pytest.raises(records.RecordError, match="records folder .* does not exist"):
        records.load_records(tmp_path / "missing")
    folder = tmp_path / "records"
    folder.mkdir()
    with pytest.raises(records.RecordError, match="holds no run records"):
        records.load_records(folder)
    good = json.loads(COMMITTED[3][0].read_text())
    (folder / "a.json").write_text(json.dumps(good))
    assert len(records.load_records(folder)) == 1
    for name, text, why in [("b.json", "{not json", "not readable JSON"),
                            ("c.json", json.dumps({"spec": {}}), "not a uebench run record "
                                                                 r"\(no method, dataset"),
                            ("d.json", json.dumps({**good, "spec": {"method": "em"}}),
                             r"not a uebench run record \(spec lacks victim")]:
        (folder / name).write_text(text)
        with pytest.raises(records.RecordError, match=f"{name}: {why}"):
            records.load_records(folder)
        (folder / name).unlink()


def test_seeds_of_one_cell_share_its_key_and_budgets_do_not():
    base = records.read_record(COMMITTED[3][0])
    other_seed = {**base, "spec": {**base["spec"], "seed": 7}}
    other_budget = {**base, "spec": {**base["spec"], "epsilon": 8 / 255},
                    "method": {**base["method"], "budget": {"norm": "linf",
                                                            "epsilon": 8 / 255}}}
    overridden = {**base, "spec": {**base["spec"], "method_params": {"b": 2, "a": 1}}}
    assert records.cell(base) == records.cell(other_seed)
    assert records.cell(other_budget).budget == "8/255" != records.cell(base).budget
    assert records.cell(overridden).method == "clean[a=1,b=2]"
    assert spec_key(base) == (2, *records.cell(base)) == spec_key(other_seed)


def test_budget_labels_for_linf_and_l0():
    assert records.describe_budget({"norm": "linf", "epsilon": 4 / 255}) == "4/255"
    assert records.describe_budget({"norm": "linf", "epsilon": 4 / 255},
                                   name_linf=True) == "L-inf 4/255"
    assert records.describe_budget({"norm": "linf", "epsilon": 0.01}) == "0.01"
    assert records.describe_budget({"norm": "l0", "max_fraction": 4 / 8**3}) == "L0 0.78%"
    old = records.read_record(COMMITTED[0][0])  # protocol 1, no budget section
    assert "budget" not in old["method"] and records.budget_label(old) == "4/255"


def _voxshield_record() -> dict:
    path = sorted((PROTOCOL_2 / "cpu" / "records").glob("voxshield-unet-*.json"))[0]
    return json.loads(path.read_text())


def test_an_older_record_says_what_its_surrogate_became_from_its_history():
    """Protocol-2 records carry no ``method.surrogate``: the state is read off the last logged
    train DSC against the fit rule's fit_dsc (the quick cap stopped VoxShield's at 0.00-0.25)."""
    record = _voxshield_record()
    assert "surrogate" not in record["method"]
    state = records.surrogate(record)
    last = record["method"]["history"][-1]["surrogate_train_dsc"]
    assert state == {"updates": None, "train_dsc": last, "fit_dsc": 0.9, "max_updates": 120,
                     "reached_fit_dsc": False}
    assert records.surrogate_short(record)
    warning = records.surrogate_warning(record)
    assert warning.startswith(f"the surrogate stopped (cap 120) at train DSC {last:.3f} < "
                              "fit_dsc 0.9: voxshield did not run as its authors define it")
    assert records.summary(record).splitlines()[-1] == f"WARNING: {warning}"


def test_a_record_that_carries_its_surrogate_is_read_as_it_is():
    record = _voxshield_record()
    record["method"]["surrogate"] = {"updates": 550, "train_dsc": 0.91, "fit_dsc": 0.9,
                                     "max_updates": 1000, "reached_fit_dsc": True}
    assert records.surrogate(record)["updates"] == 550
    assert not records.surrogate_short(record) and records.surrogate_warning(record) is None
    assert "WARNING" not in records.summary(record)
    record["method"]["surrogate"].update(updates=1000, train_dsc=0.5, reached_fit_dsc=False)
    assert records.surrogate_warning(record).startswith(
        "the surrogate stopped after 1000 updates (cap 1000) at train DSC 0.500 < fit_dsc 0.9")


def test_a_method_without_a_surrogate_or_a_fit_rule_has_no_surrogate_state():
    control = json.loads(
        next((PROTOCOL_2 / "cpu" / "records").glob("random-roi-unet-*.json")).read_text())
    assert records.surrogate(control) is None and not records.surrogate_short(control)
    protocol_1 = json.loads(next(ARCHIVE.glob("voxshield-unet-*.json")).read_text())
    assert "fit_dsc" not in protocol_1["method"]["params"]  # a fixed schedule, no rule
    assert records.surrogate(protocol_1) is None
