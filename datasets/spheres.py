"""``spheres``: MONAI's ``create_test_image_3d`` blobs, the fastest dataset for tests."""

from __future__ import annotations

import numpy as np
from monai.data.synthetic import create_test_image_3d

from uebench.contracts.core import Case, Dataset, Preset
from uebench.contracts.registry import register_dataset


@register_dataset("spheres")
class Spheres(Dataset):
    """Random spheres of three classes in noise (one channel)."""

    version = "1"
    class_names = ("class1", "class2", "class3")
    modalities = ("image",)

    def build(self, preset: Preset, seed: int) -> list[Case]:
        size = preset.volume_size
        cases = []
        for i in range(preset.n_cases):
            image, label = create_test_image_3d(
                size, size, size, num_objs=6, rad_max=max(3, size // 5),
                rad_min=max(2, size // 10), noise_max=0.2, num_seg_classes=3,
                random_state=np.random.RandomState(seed * 7919 + i),
            )
            image = (image - image.min()) / max(float(image.max() - image.min()), 1e-6)
            cases.append(Case(f"spheres-{i:03d}", image[None].astype(np.float32),
                              label.astype(np.uint8)))
        return cases
