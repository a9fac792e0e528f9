"""Plots people would rather look at than read: the loss curve of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["loss_curve", "new_figure", "save_figure"]


def new_figure(figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A figure and axes on the non-interactive Agg backend (works headless, in CI and notebooks)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Lay out, write a PNG and free the figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curve(history: list[Any], path: str | Path, title: str = "training loss") -> Path | None:
    """The loss per optimizer step. ``history``: a Trainer log history, or ``[(stage, history), ...]``
    for a multi-stage run (stages drawn one after the other, each in its own colour)."""
    segments = history if history and isinstance(history[0], tuple) else [("", history)]
    colours = ("#2f6fde", "#e0702f", "#2f9e5a", "#9b4fd1", "#c7364a")
    fig, ax = new_figure((6, 3.6))
    offset, drawn = 0, 0
    for i, (label, hist) in enumerate(segments):
        pts = [(h["step"], float(h["loss"])) for h in hist if "loss" in h and "step" in h]
        if not pts:
            continue
        ax.plot([offset + p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, lw=1.5,
                color=colours[i % len(colours)], label=label or None)
        if i and offset:
            ax.axvline(offset, color="#999999", lw=0.8, ls="--")
        offset += max(p[0] for p in pts)
        drawn += 1
    if not drawn:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return None
    ax.set_xlabel("optimizer step" + (" (stages in order)" if len(segments) > 1 else ""))
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if len(segments) > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, path)
