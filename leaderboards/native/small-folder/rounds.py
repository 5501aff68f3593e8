"""The same folder at native-1mm with one round over the cases per epoch (the rule before
iterations_per_epoch): 6 training cases x 2 patches / batch 2 = 6 batches an epoch."""
import dataclasses, json, sys
from uebench.contracts.presets import get_preset
from uebench.contracts.registry import register_preset
from uebench.runner.pipeline import Pipeline, RunSpec
register_preset(dataclasses.replace(get_preset("native-1mm"), name="native-1mm-rounds",
                                    iterations_per_epoch=None))
record, path = Pipeline(sys.argv[2], progress=False).run(
    RunSpec("clean", "unet", f"decathlon:{sys.argv[1]}", preset="native-1mm-rounds"))
e = record["efficacy"]["clean_trained"]
print(json.dumps({"dsc": e["dsc"], "dsc_fg_mean": e["dsc_fg_mean"],
                  "test_dsc": record["throughput"]["victim_training"]["clean"]["test_dsc"]}))
