from benchmarks.delta_spectrum import protect_arrays, summarise
from uebench.runner.pipeline import Pipeline, RunSpec


def test_delta_spectrum_reads_a_runs_stored_deltas(tmp_path):
    pipeline = Pipeline(tmp_path / "runs", device="cpu", progress=False)
    _, path = pipeline.run(RunSpec("random-roi", "unet", "spheres", preset="tiny"))
    record, arrays = protect_arrays(path)
    assert arrays and record["spec"]["method"] == "random-roi"
    summary = summarise(arrays, record["method"]["epsilon"])
    assert summary["zdiv"] > 0 and 0 < summary["high_z_energy_share"] < 1
