"""Each defense does what it says, defenses combine in the stated order, and defense-free
training is unchanged by the training-time hook. Tiny volumes (16^3) only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from monai.networks.nets import UNet

from uebench.cli import main
from uebench.contracts import registry
from uebench.contracts.core import Preset
from uebench.contracts.params import ParameterError
from uebench.contracts.registry import UnknownNameError
from uebench.defenses.adversarial import AdversarialTraining
from uebench.defenses.augmentation import RandomGamma
from uebench.defenses.quantisation import JPEGCompression
from uebench.defenses.ueraser import UEraser
from uebench.runner.defense_chain import DefenseChain, canonical_defense, defense_origins
from uebench.runner.training import dice_ce_loss, train_segmenter

S = 16


def plain_loss(model, x, y):
    return dice_ce_loss()(model(x), y)


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return UNet(3, 1, 3, channels=(4, 8), strides=(2,), num_res_units=1)


def tiny_problem() -> tuple[np.ndarray, np.ndarray]:
    """4 volumes 16^3, one channel, two labelled boxes each (the bit-identity problem)."""
    rng = np.random.default_rng(0)
    labels = np.zeros((4, S, S, S), np.uint8)
    for i in range(4):
        labels[i, 3 + i : 9 + i, 4:10, 5:12] = 1
        labels[i, 10:13, 10:14, 2:6] = 2
    noise = 0.1 * rng.standard_normal((4, 1, S, S, S))
    images = (0.2 + 0.5 * (labels[:, None] > 0) + noise).clip(0, 1).astype(np.float32)
    return images, labels


def tiny_batch() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = tiny_problem()
    return torch.from_numpy(images[:2]), torch.from_numpy(labels[:2]).long().unsqueeze(1)


def cube(size: int = S) -> tuple[np.ndarray, np.ndarray]:
    """A labelled cube (label 1) whose image is 1 inside and 0 outside."""
    label = np.zeros((size,) * 3, np.uint8)
    label[4:12, 5:12, 3:11] = 1
    return label[None].astype(np.float32), label


# --- data defenses -------------------------------------------------------------------------------


def test_slice_shuffle_keeps_each_slice_with_its_label():
    image = np.repeat(np.arange(S, dtype=np.float32)[None, :, None, None] / S, S, 2)
    image = np.repeat(image, S, 3)  # slice z has intensity z / S everywhere
    label = np.repeat(np.repeat(np.arange(S, dtype=np.uint8)[:, None, None], S, 1), S, 2)
    shuffle = registry.defenses.get("slice-shuffle")()
    out, out_label = shuffle.apply(image, label, np.random.default_rng(0))
    assert not np.array_equal(out_label, label)  # the order changed
    for z in range(S):  # every slice still carries its own label
        assert np.all(out[0, z] == out_label[z, 0, 0] / S)
        assert np.all(out_label[z] == out_label[z, 0, 0])
    assert sorted(out_label[:, 0, 0]) == list(range(S))


def test_zlowpass_leaves_a_z_constant_volume_unchanged():
    plane = np.random.default_rng(1).random((2, 1, S, S)).astype(np.float32)
    image = np.repeat(plane, S, axis=1)
    label = np.zeros((S, S, S), np.uint8)
    out, out_label = registry.defenses.get("zlowpass")().apply(image, label,
                                                               np.random.default_rng(0))
    np.testing.assert_allclose(out, image, atol=1e-6)
    assert out_label is label
    varying = np.random.default_rng(2).random((1, S, S, S)).astype(np.float32)
    assert not np.allclose(registry.defenses.get("zlowpass")().apply(varying, label, None)[0],
                           varying)


def test_jpeg_at_quality_10_changes_the_image_and_keeps_shape_and_range():
    image = np.random.default_rng(3).random((2, S, S, S)).astype(np.float32)
    label = np.zeros((S, S, S), np.uint8)
    out, out_label = JPEGCompression().apply(image, label, np.random.default_rng(0))
    assert JPEGCompression().quality == 10
    assert out.shape == image.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.abs(out - image).mean() > 0.05  # quality 10 is lossy
    assert out_label is label
    smooth = np.full((1, S, S, S), 0.6, np.float32)  # a flat slice survives, to the DC step
    assert np.abs(JPEGCompression().apply(smooth, label, None)[0] - 0.6).max() < 6 / 255


# --- training-time defenses ------------------------------------------------------------------


def test_gamma_keeps_unit_range_and_is_monotone():
    gamma = RandomGamma(prob=1.0)
    gamma.start(0)
    x = torch.rand(3, 2, S, S, S, generator=torch.Generator().manual_seed(0))
    x[:, :, 0, 0, 0], x[:, :, 0, 0, 1] = 0.0, 1.0
    y = torch.zeros(3, 1, S, S, S, dtype=torch.long)
    out, out_y = gamma.augment(x, y)
    assert out.shape == x.shape and out_y is y
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x, atol=1e-3)  # a gamma != 1 was applied
    for i in range(len(x)):  # one gamma per volume: the intensity order is kept
        order = torch.argsort(x[i].flatten())
        assert torch.all(torch.diff(out[i].flatten()[order]) >= -1e-6)


@pytest.mark.parametrize("name", ["affine", "affine-elastic"])
def test_affine_moves_label_and_image_together(name):
    image, label = cube()
    x = torch.from_numpy(np.stack([image, image]))
    y = torch.from_numpy(np.stack([label, label])).long()[:, None]
    affine = registry.defenses.get(name)(prob=1.0)
    affine.start(4)
    out, out_y = affine.augment(x, y)
    assert out.shape == x.shape and out_y.shape == y.shape and out_y.dtype == y.dtype
    assert set(out_y.unique().tolist()) <= {0, 1}
    assert not torch.equal(out_y, y)  # the cube moved
    for i in range(2):
        inside = out_y[i, 0] == 1
        # the interpolated image is bright where the resampled label says cube, dark elsewhere
        agree = ((out[i, 0] > 0.5) == inside).float().mean()
        assert agree > 0.97, agree
        assert out[i, 0][inside].mean() > 0.8 and out[i, 0][~inside].mean() < 0.1
    assert not torch.equal(out_y[0], out_y[1])  # each volume gets its own draw


def test_ueraser_loss_is_the_max_over_its_draws():
    x, y = tiny_batch()
    model = tiny_model()
    eraser = UEraser()
    eraser.start(0)
    assert eraser.repeats == 5
    loss = eraser.batch_loss(model, x[:1], y[:1], plain_loss)
    draws = eraser.last_draw_losses
    assert draws.shape == (1, 5)
    assert loss.item() >= draws.max().item() - 1e-5
    assert loss.item() == pytest.approx(draws.max().item(), abs=1e-5)
    assert len(set(draws[0].tolist())) > 1  # the draws differ
    loss.backward()  # the max draw carries the gradient
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    batch_loss = eraser.batch_loss(model, x, y, plain_loss)  # per-sample max over a batch
    assert eraser.last_draw_losses.shape == (2, 5)
    assert batch_loss.item() >= eraser.last_draw_losses.mean(0).max().item() - 1e-5


@pytest.mark.parametrize("shift", [0.0, -0.05])
def test_adv_train_batch_stays_within_the_radius_and_raises_the_loss(shift):
    x, y = tiny_batch()
    x = x + shift  # also a batch the victim's intensity augmentation pushed below 0
    model = tiny_model()
    adv = AdversarialTraining()
    adv.start(0)
    assert adv.radius == pytest.approx(4 / 255) and adv.steps == 5
    x_adv = adv.adversarial(model, x, y, plain_loss)
    assert (x_adv - x).abs().max() <= adv.radius + 1e-6
    assert (x_adv - x).abs().max() > adv.radius / 2
    assert x_adv.min() >= min(0.0, float(x.min())) - 1e-6 and x_adv.max() <= 1 + 1e-6
    with torch.no_grad():
        clean, attacked = float(plain_loss(model, x, y)), float(plain_loss(model, x_adv, y))
    assert attacked > clean
    loss = adv.batch_loss(model, x, y, plain_loss)
    assert loss.requires_grad and loss.item() > clean


# --- combinations, parsing and the pipeline ------------------------------------------------------


def test_combination_order_and_parsing():
    assert canonical_defense("none") == "none" and canonical_defense(()) == "none"
    assert canonical_defense("zlowpass+affine") == "zlowpass+affine"
    assert canonical_defense("affine+zlowpass") == "zlowpass+affine"  # data first
    assert canonical_defense(["adv-train", "gaussian", "affine", "quantize"]) == (
        "gaussian+quantize+adv-train+affine")  # each group keeps its given order
    assert canonical_defense(["zlowpass", "affine"]) == "zlowpass+affine"
    with pytest.raises(UnknownNameError, match="affine"):
        canonical_defense("zlowpass+afine")
    with pytest.raises(ValueError, match="combined"):
        canonical_defense("none+gaussian")
    with pytest.raises(ValueError, match="more than once"):
        canonical_defense("gaussian+gaussian")
    with pytest.raises(ValueError, match="'zlowpass\\+affine'"):
        DefenseChain("affine+zlowpass")  # a spec must be canonical
    chain = DefenseChain("zlowpass+quantize+gamma+affine")
    assert [d.name for d in chain.data] == ["zlowpass", "quantize"]
    assert [d.name for d in chain.training] == ["gamma", "affine"]
    assert DefenseChain("none").hook is None and DefenseChain("gaussian").hook is None
    image = np.random.default_rng(5).random((1, S, S, S)).astype(np.float32)
    label = np.zeros((S, S, S), np.uint8)
    zlow, quant = registry.defenses.get("zlowpass")(), registry.defenses.get("quantize")()
    expected = quant.apply(zlow.apply(image, label, None)[0], label, None)[0]
    np.testing.assert_array_equal(chain.apply(image, label, None)[0], expected)


def test_defense_parameters_have_one_canonical_spelling():
    assert canonical_defense("gaussian:sigma=1") == "gaussian"  # the default is left out
    assert canonical_defense("gaussian:sigma=1.0") == canonical_defense("gaussian")
    assert canonical_defense("gaussian:sigma=2") == "gaussian:sigma=2.0"
    spec = canonical_defense("affine:scale=[0.9, 1.1],prob=1+zlowpass:sigma=0.5")
    assert spec == "zlowpass:sigma=0.5+affine:prob=1.0,scale=(0.9,1.1)"  # sorted, typed
    assert canonical_defense(spec) == spec
    assert canonical_defense(["adv-train:radius=8/255", "gamma"]) == (
        "adv-train:radius=0.03137254901960784+gamma")
    assert canonical_defense("adv-train:radius=4/255,steps=5") == "adv-train"
    chain = DefenseChain(spec)
    assert chain.data[0].sigma == 0.5 and chain.training[0].transform.prob == 1.0
    with pytest.raises(ValueError, match="canonical"):
        DefenseChain("zlowpass:sigma=0.5+affine:scale=(0.9,1.1),prob=1.0")
    with pytest.raises(ValueError, match="more than once"):
        canonical_defense("gaussian+gaussian:sigma=2")
    assert defense_origins("gaussian:sigma=2.0") == {}  # built in: no entry-point origin


@pytest.mark.parametrize("spec,message", [
    ("gaussian:sigma=oops", "parameter sigma expects float; got 'oops'"),
    ("jpeg:quality=2.5", "parameter quality expects int"),
    ("quantize:bits=True", "parameter bits expects int"),
    ("gamma:gamma=(0.5,)", r"expects \(float, float\)"),
    ("gaussian:sigm=2", "no parameter 'sigm'. Did you mean: sigma"),
    ("affine:elastic=True", "no parameter 'elastic'"),  # affine-elastic is its own name
    ("gaussian:sigma", "is not KEY=VALUE"),
])
def test_bad_defense_parameters_are_one_line_errors(spec, message):
    with pytest.raises(ParameterError, match=message) as error:
        canonical_defense(spec)
    assert "\n" not in str(error.value)


def test_parameters_change_what_a_defense_does():
    from scipy.ndimage import gaussian_filter

    image = np.random.default_rng(6).random((1, S, S, S)).astype(np.float32)
    label = np.zeros((S, S, S), np.uint8)
    wide = DefenseChain("gaussian:sigma=2.0").apply(image, label, None)[0]
    np.testing.assert_allclose(wide, gaussian_filter(image, (0, 2, 2, 2)), atol=1e-7)
    assert wide.std() < DefenseChain("gaussian").apply(image, label, None)[0].std()
    binary = DefenseChain("quantize:bits=1").apply(image, label, None)[0]
    assert set(np.unique(binary).tolist()) == {0.0, 1.0}
    assert DefenseChain("jpeg:quality=90").data[0].quality == 90
    assert DefenseChain("ueraser:repeats=2").training[0].repeats == 2
    assert not DefenseChain("affine").training[0].elastic
    assert DefenseChain("affine-elastic").training[0].elastic


def test_every_committed_records_defense_keeps_its_spelling():
    root = Path(__file__).resolve().parents[1] / "leaderboards"
    records = [json.loads(path.read_text()) for path in root.glob("**/records/*.json")]
    specs = {r["spec"]["defense"] for r in records if r.get("spec", {}).get("defense")}
    assert {"none", "gaussian", "affine-elastic", "adv-train"} <= specs
    for spec in specs:
        assert canonical_defense(spec) == spec and DefenseChain(spec).spec == spec


def test_training_defenses_chain_outermost_first():
    chain = DefenseChain("gamma+affine")
    calls = []

    class Recorder:
        def __init__(self, tag):
            self.tag = tag

        def batch_loss(self, model, x, y, loss_fn):
            calls.append(self.tag)
            return loss_fn(model, x + self.tag, y)

    chain.training = [Recorder(1.0), Recorder(10.0)]
    seen = {}

    def inner(model, x, y):
        seen["x"] = x
        return x.sum()

    chain.batch_loss(None, torch.zeros(1), torch.zeros(1), inner)
    assert calls == [1.0, 10.0] and float(seen["x"]) == 11.0


def test_cli_parses_repeated_defense_options(monkeypatch, tmp_path):
    import uebench.runner.pipeline

    seen = {}

    def stop(spec):
        seen["defense"] = spec.defense
        raise ValueError("stopped after parsing")

    monkeypatch.setattr(uebench.runner.pipeline, "resolve", stop)
    args = ["run", "--method", "clean", "--victim", "unet", "--dataset", "spheres",
            "--preset", "tiny", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--defense", "affine", "--defense", "zlowpass"])
    assert result.exit_code == 2 and seen["defense"] == "zlowpass+affine"
    CliRunner().invoke(main, [*args, "--defense", "zlowpass+affine"])
    assert seen["defense"] == "zlowpass+affine"
    CliRunner().invoke(main, args)
    assert seen["defense"] == "none"
    result = CliRunner().invoke(main, [*args, "--defense", "zlowpass", "--defense", "afine"])
    assert result.exit_code == 2 and "affine" in result.output and "afine" in result.output
    CliRunner().invoke(main, [*args, "--defense", "affine:prob=1", "--defense", "zlowpass"])
    assert seen["defense"] == "zlowpass+affine:prob=1.0"
    result = CliRunner().invoke(main, [*args, "--defense", "gaussian:sigma=oops"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "defense 'gaussian' parameter sigma expects float; got 'oops'" in result.output
    assert not tmp_path.joinpath("records").exists()


def test_list_defenses_shows_their_parameters():
    result = CliRunner().invoke(main, ["list", "defenses"])
    assert result.exit_code == 0
    assert "sigma: float = 1.0" in result.output
    assert "scale: (float, float) = (0.85,1.25)" in result.output


def test_pipeline_applies_data_defenses_and_hooks_training_ones(monkeypatch, tmp_path):
    import uebench.runner.pipeline
    from uebench.runner.pipeline import Pipeline, RunSpec

    calls = []

    def fake_train(model, images, labels, preset, seed, device, desc, progress, batch_loss,
                   validate, recipe, monitor, select_by, lr):
        calls.append({"images": images, "hook": batch_loss, "validate": validate})
        return {"losses": [0.0], "test_dsc": {"every": 1, "epochs": [1], "values": [0.5]}}

    monkeypatch.setattr(uebench.runner.pipeline, "train_segmenter", fake_train)
    monkeypatch.setattr(uebench.runner.pipeline, "evaluate", lambda *a, **k: {"dsc_fg_mean": 0.5})
    pipeline = Pipeline(tmp_path / "runs", device="cpu", progress=False)
    for defense in ("none", "zlowpass", "zlowpass+gamma"):
        pipeline.stage(RunSpec("random", "unet", "spheres", defense=defense, preset="tiny"),
                       "protected_victim")
    plain, zlow, both = calls
    assert plain["hook"] is None and zlow["hook"] is None and both["hook"] is not None
    assert all(call["validate"] is None for call in calls)  # no early stopping asked for
    assert not np.array_equal(plain["images"], zlow["images"])
    np.testing.assert_array_equal(zlow["images"], both["images"])  # gamma: training only
    x, y = tiny_batch()
    assert both["hook"](tiny_model(), x, y, plain_loss).requires_grad


# --- defense-free training is unchanged -----------------------------------------------------------

# Recorded from the unmodified ``train_segmenter`` (before the hook existed), 1 CPU thread.
# The epoch losses agree across CPUs to 1e-6; the final weights do not, because Adam turns a
# near-zero gradient's rounding into an lr-sized step (their sum was 0.5638 on the recording
# machine, 0.5688 on an AMD EPYC), so only the losses are recorded and the weights are compared
# within one process.
RECORDED_LOSSES = [2.1830896139144897, 2.091736078262329]


def _train(batch_loss=None):
    images, labels = tiny_problem()
    preset = Preset(name="tiny16", volume_size=S, n_cases=4, epochs=2, batch_size=2, lr=1e-3)
    model = tiny_model()
    out = train_segmenter(model, images, labels, preset, seed=3, device=torch.device("cpu"),
                          progress=False, batch_loss=batch_loss)
    with torch.no_grad():
        total = float(sum(p.double().sum() for p in model.parameters()))
    return out["losses"], total


def test_defense_free_training_is_unchanged():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the recorded numbers are single-threaded
    try:
        losses, total = _train()
        identity_losses, identity_total = _train(lambda m, x, y, loss_fn: loss_fn(m, x, y))
    finally:
        torch.set_num_threads(threads)
    assert losses == pytest.approx(RECORDED_LOSSES, rel=1e-6, abs=0)
    # a pass-through hook is the same training, bit for bit
    assert identity_losses == losses and identity_total == total
