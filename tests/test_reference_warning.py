"""A run whose clean-trained victim is weak says so, in the record and in the summary."""

from uebench.results.records import reference_warning, summary

CLASSES = ("class1", "class2")


def _evaluation(fg, per_class):
    return {"dsc_fg_mean": fg, "dsc": dict(zip(CLASSES, per_class))}


def test_a_good_reference_gives_no_warning():
    assert reference_warning(_evaluation(0.9, (0.95, 0.85)), CLASSES) is None
    assert reference_warning(_evaluation(0.7, (0.5, 0.9)), CLASSES) is None  # on the bars


def test_a_weak_reference_is_named_with_the_bars_it_misses():
    # spheres at quick, from the issue: fg mean 0.664, one class 0.359
    text = reference_warning(_evaluation(0.664, (0.969, 0.359)), CLASSES)
    assert "fg-mean DSC 0.664 < 0.7" in text and "class2 DSC 0.359 < 0.5" in text
    assert "class1" not in text
    # a good mean with one class that was not learned
    assert "class2 DSC 0.100 < 0.5" in reference_warning(_evaluation(0.8, (1.0, 0.1)), CLASSES)
    assert "undefined" in reference_warning(_evaluation(None, (None, None)), CLASSES)


def _record(warning):
    clean, protected = _evaluation(0.664, (0.969, 0.359)), _evaluation(0.6, (0.9, 0.3))
    return {
        "spec": {"method": "em", "victim": "unet", "dataset": "spheres", "defense": "none",
                 "epsilon": 4 / 255, "seed": 0, "preset": "quick", "method_params": {}},
        "method": {"budget": {"norm": "linf", "epsilon": 4 / 255}},
        "efficacy": {"clean_trained": clean, "protected_trained": protected,
                     "dsc_drop": {"dsc_fg_mean": 0.064}, "reference_warning": warning},
        "fidelity": {"linf": 4 / 255, "l0_fraction": 0.5, "psnr_whole": 50.0,
                     "psnr_roi": 45.0, "ssim_whole": 0.99, "ssim_roi": 0.98},
        "throughput": {"protect": {"wall_seconds": 1.0, "volumes_per_second": 2.0},
                       "victim_training": {"protected": {"seconds_per_epoch": 1.0}}},
        "timings": {"run_seconds": 3.0, "cached_stages": []},
    }


def test_the_run_summary_carries_the_warning():
    warning = reference_warning(_evaluation(0.664, (0.969, 0.359)), CLASSES)
    lines = summary(_record(warning)).splitlines()
    assert lines[-1] == f"WARNING: {warning}"
    assert "WARNING" not in summary(_record(None))
    old = _record(None)
    del old["efficacy"]["reference_warning"]  # records made before the field
    assert "WARNING" not in summary(old)
