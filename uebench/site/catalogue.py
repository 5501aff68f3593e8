"""The plugin catalogue, read from the registries (``uebench.contracts.registry``): one
Markdown page per kind (methods, victims, datasets, defenses, presets) with each plugin's
name, summary, native-grid support and parameters (type, default, range), so the pages
cannot drift from the code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uebench.contracts import registry
from uebench.contracts.params import (
    REQUIRED,
    Parameter,
    format_value,
    from_signature,
    method_schema,
    type_name,
)

PARAM_PRESET = "quick"
"""The preset a method's defaults are shown at (some follow the preset)."""


def _summary(plugin: Any) -> str:
    text = getattr(plugin, "summary", "") or (plugin.__doc__ or "").strip()
    return text.splitlines()[0] if text else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _where(plugin: Any) -> str:
    return f"`{plugin.__module__}.{plugin.__qualname__}`"


def params_table(schema: dict[str, Parameter]) -> list[str]:
    """A parameter table (name, type, default, range), or one line when there are none."""
    if not schema:
        return ["No parameters.", ""]
    lines = ["| parameter | type | default | range |", "|---|---|---|---|"]
    for p in schema.values():
        default = "(required)" if p.default is REQUIRED else f"`{format_value(p.default)}`"
        span = p.range_text() if p.numeric else ""
        lines.append(f"| `{p.name}` | {_cell(type_name(p.type))} | {_cell(default)} | {span} |")
    return [*lines, ""]


def params_inline(schema: dict[str, Parameter]) -> str:
    """``act: one of 'prelu', 'relu' = prelu; ...`` (blank when there are none)."""
    return "; ".join(f"`{p.name}`: {type_name(p.type)}"
                     + ("" if p.default is REQUIRED else f" = `{format_value(p.default)}`")
                     for p in schema.values())


def methods_page() -> str:
    """Every registered method: summary, role, norm, native support, parameters."""
    preset = registry.presets.get(PARAM_PRESET)
    lines = ["# Methods", "", "Every registered protection method and control, read from the "
             "method registry (`uebench list methods`). Parameters are shown with their "
             f"defaults at the `{PARAM_PRESET}` preset; `--param KEY=VALUE` overrides one. "
             "Results: [the method pages](../leaderboard/methods/index.md).", ""]
    for name in registry.methods.names():
        cls = registry.methods.get(name)
        lines += [f"## {name} {{#{name}}}", "", _summary(cls), "",
                  f"Role `{cls.role}`; norm `{cls.norm}`; native grid: "
                  f"{'yes' if cls.supports_native else 'no'}; defined in {_where(cls)}.", "",
                  *params_table(method_schema(cls, preset))]
    return "\n".join(lines) + "\n"


def victims_page() -> str:
    """Every registered victim: summary, dimensions, the volume edges it takes."""
    lines = ["# Victims", "", "Every registered victim network, read from the victim "
             "registry (`uebench list victims`).", "",
             "| victim | summary | dims | min edge | edge multiple | parameters "
             "(`NAME:KEY=VALUE`) | defined in |", "|---|---|---|---|---|---|---|"]
    for name in registry.victims.names():
        cls = registry.victims.get(name)
        lines.append(f"| `{name}` | {_cell(_summary(cls))} | {cls.spatial_dims}D | "
                     f"{cls.min_size} | {cls.size_multiple} | "
                     f"{_cell(params_inline(from_signature(cls)))} | {_where(cls)} |")
    return "\n".join(lines) + "\n"


def datasets_page() -> str:
    """Every registered dataset: summary, classes, modalities, native support."""
    lines = ["# Datasets", "", "Every registered dataset and local folder layout, read from "
             "the dataset registry (`uebench list datasets`); a layout is used as "
             "`NAME:PATH`.", "",
             "| dataset | summary | classes | modalities | native grid | defined in |",
             "|---|---|---|---|---|---|"]
    for name in registry.datasets.names():
        cls = registry.datasets.get(name)
        lines.append(f"| `{name}` | {_cell(_summary(cls))} | "
                     f"{_cell(', '.join(cls.class_names))} | {_cell(', '.join(cls.modalities))}"
                     f" | {'yes' if cls.supports_native else 'no'} | {_where(cls)} |")
    return "\n".join(lines) + "\n"


def defenses_page() -> str:
    """Every registered defense: summary, kind, parameters."""
    lines = ["# Defenses", "", "Every registered defense, read from the defense registry "
             "(`uebench list defenses`). A data defense transforms each protected training "
             "volume once; a training-time defense changes every training step. Parameters "
             "follow the name after a colon: `gaussian:sigma=1.5`.", ""]
    for name in registry.defenses.names():
        cls = registry.defenses.get(name)
        lines += [f"## {name} {{#defense-{name}}}", "", _summary(cls), "",
                  f"Kind `{cls.kind}`; defined in {_where(cls)}.", "",
                  *params_table(from_signature(cls))]
    return "\n".join(lines) + "\n"


def presets_page() -> str:
    """Every registered preset: sizes, split, schedule, surrogate cap, purpose."""
    lines = ["# Presets", "", "Every registered preset, read from the preset registry "
             "(`uebench list presets`). A preset's values are part of every cache key and "
             "record.", "",
             "| preset | grid | volume | cases | split (train/val/test) | epochs | batch | lr "
             "| surrogate cap | victim recipe | for |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in registry.presets.names():
        p = registry.presets.get(name)
        split = "/".join(map(str, p.split)) if p.split else "70/15/15 %"
        grid = (f"native, {p.target_spacing:g} mm" if p.target_spacing else "native") \
            if p.native else "cube"
        lines.append(f"| `{name}` | {grid} | {p.volume_size}^3 | {p.n_cases} | {split} | "
                     f"{p.epochs} | {p.batch_size} | {p.lr:g} | {p.surrogate_updates} | "
                     f"{getattr(p, 'recipe', '') or ''} | "
                     f"{_cell(registry.presets.summaries.get(name, ''))} |")
    return "\n".join(lines) + "\n"


PAGES: dict[str, Callable[[], str]] = {
    "methods.md": methods_page, "victims.md": victims_page, "datasets.md": datasets_page,
    "defenses.md": defenses_page, "presets.md": presets_page,
}
"""The catalogue's pages, by file name."""


def index_page() -> str:
    """The catalogue's front page: how many of each kind, and links."""
    counts = {"methods": registry.methods, "victims": registry.victims,
              "datasets": registry.datasets, "defenses": registry.defenses,
              "presets": registry.presets}
    lines = ["# Catalogue", "", "Generated from the registries at every build of this site, "
             "so it lists what the code registers, built-ins and installed plugins alike.", ""]
    lines += [f"- [{kind}]({kind}.md): {len(reg.names())}" for kind, reg in counts.items()]
    return "\n".join(lines) + "\n"
