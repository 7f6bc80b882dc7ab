"""`doorcount eval --plot`: counted vs truth per interval and door; misses and false counts."""

from __future__ import annotations

import math
from pathlib import Path

from gateway.evaluation.scoring import Score
from gateway.protocol.trace import Direction


def check_image_path(path: Path, what: str) -> None:
    """Before any work: the folder exists and matplotlib can write this image type."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase

    from gateway.errors import OutputPathError, check_output_path

    check_output_path(path, what)
    kinds = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in kinds:
        raise OutputPathError(
            f"{what} {path}: unknown image type {path.suffix or '(none)'!r}; "
            f"use one of {', '.join('.' + k for k in sorted(kinds))}"
        )


def _bins(times: list[float], start: float, width: float, n: int) -> list[int]:
    out = [0] * n
    for t in times:
        k = int((t - start) // width)
        if 0 <= k < n:
            out[k] += 1
    return out


def plot_eval(score: Score, site: str, path: Path) -> None:
    """One panel per door: entries above the axis, exits below; truth as a line, counted as
    bars; a red cross for every missed crossing and an orange dot for every false count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = score.cells
    times = [
        t
        for by_dir in cells.values()
        for c in by_dir.values()
        for t in (*c.truth_at, *c.counted_at)
    ] or [0.0]
    start, end = min(times), max(times)
    duration = max(end - start, 60.0)
    width = 60.0 if duration <= 4 * 3600 else 900.0
    n = max(1, math.ceil(duration / width))
    xs = [(k + 0.5) * width / 60 for k in range(n)]
    doors = list(cells)
    fig, axes = plt.subplots(
        len(doors), 1, figsize=(12, 2.4 * len(doors) + 1.0), squeeze=False, sharex=True
    )
    for row, door in enumerate(doors):
        ax = axes[row][0]
        pairs: tuple[tuple[int, Direction], ...] = ((1, "in"), (-1, "out"))
        for sign, direction in pairs:
            cell = cells[door][direction]
            counted = _bins(cell.counted_at, start, width, n)
            truth = _bins(cell.truth_at, start, width, n)
            ax.bar(
                xs,
                [sign * c for c in counted],
                width=width / 60 * 0.9,
                color="tab:green" if sign > 0 else "tab:blue",
                alpha=0.55,
                label=f"counted {direction}",
            )
            ax.step(
                xs,
                [sign * t for t in truth],
                where="mid",
                color="black",
                linewidth=0.9,
                label="truth" if sign > 0 else None,
            )
            for ts, marker, colour, label in (
                (cell.missed_at, "x", "tab:red", "missed"),
                (cell.false_at, "o", "tab:orange", "false count"),
            ):
                if ts:
                    ax.scatter(
                        [(t - start) / 60 for t in ts],
                        [sign * 0.5] * len(ts),
                        marker=marker,
                        color=colour,
                        s=22,
                        zorder=3,
                        label=label if sign > 0 or not cells[door]["in"].missed_at else None,
                    )
        ax.axhline(0, color="grey", linewidth=0.6)
        acc_in, acc_out = cells[door]["in"], cells[door]["out"]
        ax.set_title(
            f"{door}: in {acc_in.counted}/{acc_in.truth} (matched {acc_in.matched}), "
            f"out {acc_out.counted}/{acc_out.truth} (matched {acc_out.matched})",
            fontsize=9,
            loc="left",
        )
        ax.set_ylabel(f"per {int(width // 60)} min")
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize=7, ncol=3)
    axes[-1][0].set_xlabel("minutes since the first crossing")
    fig.suptitle(
        f"site {site}: event_accuracy {score.event_accuracy:.4f}, "
        f"count_error {score.count_error:.4f}  (entries above the axis, exits below)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
