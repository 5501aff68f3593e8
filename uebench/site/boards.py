"""The board sets the site shows: each a folder of committed records and the boards rendered
from it (``uebench leaderboard``), with the title and note a reader sees."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root, which every path of a board set is relative to."""


@dataclass(frozen=True)
class BoardSet:
    """One folder of records and the boards rendered from it."""

    slug: str
    title: str
    boards: str  # the folder of the committed Markdown/CSV boards, relative to ROOT
    note: str
    kind: str = "leaderboard"  # how its boards are rendered: a key of uebench.site.load.KINDS

    @property
    def records(self) -> Path:
        """The folder of committed records."""
        return ROOT / self.boards / "records"

    @property
    def report(self) -> Path:
        """The committed report of the set (``uebench report``), which may be absent."""
        return ROOT / self.boards / "report"


SETS = (
    BoardSet("main", "Protocol 4, CPU: every method (the main board)", "leaderboards",
             "brats-mni at the canary-v48 preset (48^3, 40 victim epochs) on 2 CPU cores: every "
             "registered method, VoxShield without its z-term and the controls (random-roi, "
             "the energy-matched random-signs-roi and random-signs-classwise, random, clean) on "
             "unet at 4, 16 and 32/255 (8/255 cut for cost), seeds 0-3, the ends first. A "
             "sweep commits the records a seed at a time; this page shows those committed, and "
             "a cell with fewer than 3 seeds has no test. Why this preset: "
             "`leaderboards/preset-choice/` (resolution per CPU-hour)."),
    BoardSet("transfer", "Protocol 4, CPU: transfer across victims", "leaderboards/transfer",
             "brats-mni at the canary-v64 preset (64^3, the smallest SwinUNETR takes) on 2 CPU "
             "cores: voxshield and em, two of the methods the main board flags at 32/255 (rem is "
             "cut for cost: leaderboards/methods/README.md), each protection made once with "
             "its own surrogate, trained on by every victim but vnet, cut for cost (unet, "
             "swinunetr, unetr, segresnet:lr=0.001, dynunet, attentionunet, basicunetplusplus, "
             "unet2d; SegResNet at its own learning rate, as it stalls at background at the "
             "preset's), with random-roi and clean, 32/255, seeds 0-2. A sweep commits the "
             "records a seed at a time; this page shows those committed, and a cell with fewer "
             "than 3 seeds has no test."),
    BoardSet("defenses", "Protocol 4, CPU: defenses", "leaderboards/defenses",
             "brats-mni at the canary-v48 preset on 2 CPU cores: rem (the strongest method the "
             "main board flags at 32/255 that the attacker boards do not cover), random-roi "
             "and clean on unet at 32/255, seeds 0-2, undefended and under every defense (the "
             "attacker's early-stop, pretrained, regrid and renormalise included). A sweep "
             "commits the records a seed at a time; this page shows those committed, and a "
             "cell with fewer than 3 seeds has no test."),
    BoardSet("attacker-canary", "The attacker's pipeline at canary", "leaderboards/attacker-canary",
             "Defenses (early-stop, pretrained, regrid, renormalise) and partial protection at "
             "canary, 32/255, unet, seeds 0-2."),
    BoardSet("attacker-quick", "The attacker's pipeline at quick", "leaderboards/attacker-quick",
             "The same defenses and partial protection at quick, 32/255, unet, seeds 0-2."),
    BoardSet("scaling", "The scale study", "leaderboards/scaling",
             "Each protection's paired difference to the matched random-roi along four axes "
             "of compute (surrogate updates, victim epochs, volume, training cases).",
             kind="scaling"),
    BoardSet("recipe-walk", "The recipe walk", "leaderboards/recipe",
             "canary-e200 (32^3, 200 victim epochs) under each victim recipe from the VoxShield "
             "authors' (walk-authors) to uebench's (canary-e200), one factor at a time: clean, "
             "random-roi, em and voxshield (also without its z-term) on unet, seeds 0-4, 4/255 "
             "at every step, 8/255 and 32/255 at both ends; saturation: "
             "VoxShield's generator per epoch at each step. A sweep commits the records as its "
             "steps finish; this page shows those committed. The study: "
             "[the recipe walk](../studies/recipe.md).",
             kind="walk"),
    BoardSet("recipe-ablation", "VoxShield's ablation", "leaderboards/recipe/ablation",
             "VoxShield with its z-term, its logit term or both switched off, or its z-term "
             "scaled by slice area, beside its defaults, random-roi and the clean-trained "
             "victim: canary (32^3, uebench's recipe), unet, 4/255 and 32/255, seeds 0-2; "
             "saturation: its generator per epoch. The study: "
             "[the recipe walk and VoxShield's ablation](../studies/recipe.md).",
             kind="ablation"),
    BoardSet("protocol-3-cpu", "Protocol 3, CPU (archived)",
             "leaderboards/archive/protocol-3/cpu",
             "brats-mni at the quick preset on 2 CPU cores: the controls, voxshield and em on "
             "unet at 4, 8, 16 and 32/255 (seeds 0-2), and the card's swinunetr cell at 4/255. "
             "The main board until protocol 4; its bootstrap test flags 9-18 % of null cells "
             "at 3 seeds instead of 5 %, so it does not compare with protocol 4's."),
    BoardSet("protocol-2-gpu", "Protocol 2, GPU (archived)", "leaderboards/archive/protocol-2/gpu",
             "Every method on one H100 under protocol 2, whose surrogates stopped at 120 "
             "updates (most below fit_dsc: the † cells). Kept for the record; not comparable "
             "with protocol 3."),
    BoardSet("protocol-2-cpu", "Protocol 2, CPU (archived)", "leaderboards/archive/protocol-2/cpu",
             "voxshield, em and the controls on 2 CPU cores under protocol 2 (another CPU model)."),
)
"""Every board set, the main board first."""


def by_slug(slug: str) -> BoardSet:
    """The board set named ``slug``."""
    return next(s for s in SETS if s.slug == slug)
