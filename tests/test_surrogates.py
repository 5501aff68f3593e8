import pytest
import torch

from uebench.kit.surrogates import foreground_dice, surrogate_state


def two_mask_dice(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Foreground Dice written the plain way: argmax, then two masks per class."""
    prediction = logits.argmax(1, keepdim=True)
    scores = []
    for k in range(1, logits.shape[1]):
        p, t = prediction == k, y == k
        denominator = p.sum() + t.sum()
        scores.append(2 * (p & t).sum() / denominator if denominator > 0
                      else torch.tensor(1.0))
    return torch.stack(scores).mean()


@pytest.mark.parametrize("n_classes", [2, 3, 4, 5])
def test_foreground_dice_equals_two_masks_per_class(n_classes):
    torch.manual_seed(n_classes)
    logits = torch.randn(2, n_classes, 6, 7, 8)
    y = torch.randint(0, n_classes, (2, 1, 6, 7, 8))
    assert torch.equal(foreground_dice(logits, y), two_mask_dice(logits, y))


def test_foreground_dice_breaks_ties_as_argmax_and_scores_absent_classes_one():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 5, 5, 5).round()
    logits[:, 3] = -10.0
    y = torch.randint(0, 3, (1, 1, 5, 5, 5))
    assert torch.equal(foreground_dice(logits, y), two_mask_dice(logits, y))
    perfect = torch.nn.functional.one_hot(y[:, 0], 4).movedim(-1, 1).float()
    assert foreground_dice(perfect, y).item() == 1.0



def test_surrogate_state_says_whether_fit_dsc_was_reached():
    params = {"fit_dsc": 0.9, "max_surrogate_updates": 120}
    assert surrogate_state(40, 0.93, params)["reached_fit_dsc"] is True
    assert surrogate_state(120, 0.25, params) == {
        "updates": 120, "train_dsc": 0.25, "fit_dsc": 0.9, "max_updates": 120,
        "reached_fit_dsc": False, "schedule": "fit-rule"}
    assert surrogate_state(120, 0.25, params, "reference")["schedule"] == "reference"
    assert surrogate_state(0, None, params)["reached_fit_dsc"] is False
