"""docs/rulebook.md, generated from the rulebook so the documentation cannot drift from it."""

from __future__ import annotations

from features.catalogue import load_catalogue
from features.rulebook import INSUFFICIENT, MAX_POINTS, TIERS, Rulebook


def rulebook_markdown(rules: Rulebook) -> str:
    """docs/rulebook.md, generated from the rulebook so the documentation cannot drift from it."""
    catalogue = load_catalogue()
    cut_offs = ", ".join(f"{t} >= {rules.tiers[t]:g}" for t in TIERS[:-1])
    lines = [
        f"# The LES rulebook (version {rules.version})",
        "",
        "Generated from `features/rulebook.yaml` by `les rulebook --markdown`; a test keeps this "
        "file in sync. Precedents come from platform seller documentation and third-party guides "
        "(the Douyin ones from reposts of the platform's rules, not its official page).",
        "",
        "## How a window is scored",
        f"- Window: the last {rules.window_days} days before the scoring date; a metric counts the "
        "events that happened in [end - window, end) (orders paid, shipped, delivered in it).",
        f"- Minimums: below {rules.min_orders} `{rules.min_orders_basis}` (`min_orders_basis`: "
        f"what the precedent's minimum counts) the tier is *{INSUFFICIENT}* and there is no "
        "score, however many orders were paid; a metric backed by fewer than "
        f"{rules.min_metric_denominator} observations (its denominator) is left out.",
        "- Points: piecewise-linear between the band points (value -> points), flat outside them, "
        "so improving a metric never lowers the score.",
        "- Score: the weighted mean of the points of the metrics that count, weights renormalised "
        f"over them; 0-{MAX_POINTS:g}. Tiers: {cut_offs}, Poor below.",
        "",
        "## Metrics",
        "| metric | stage | weight | better | counted over | definition | bands (value -> points) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in rules.metrics:
        f = catalogue.feature(m.feature)
        bands = "; ".join(f"{v:g} -> {p:g}" for v, p in m.bands)
        lines.append(
            f"| `{m.feature}` | {catalogue.stage_labels[m.stage]} | {m.weight:g} | {f.direction} "
            f"| `{m.denominator}` | {f.description} | {bands} |"
        )
    lines += ["", "## Precedents", *(f"- `{m.feature}`: {m.source}" for m in rules.metrics)]
    return "\n".join([*lines, "", *OVERRIDES_DOC]) + "\n"


OVERRIDES_DOC = (
    "## Changing the rules",
    "From code, `load_rulebook().with_overrides(window_days=..., min_orders=..., tiers={...}, "
    "weights={...}, bands={...})` returns a validated copy (tiers, weights and bands by name; "
    "weights must still sum to 1). From a file, `les score-window --rules FILE` (or "
    "`load_rulebook(FILE)`) lays a YAML with any of those fields, `version`, "
    "`min_orders_basis`, `min_metric_denominator` or a whole `metrics` list over the packaged "
    "rulebook. `min_orders` always counts `min_orders_basis`, from code, file or "
    "`les build-dataset --min-orders`.",
)
