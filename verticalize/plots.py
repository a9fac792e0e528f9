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


def loss_curve(history: list[dict[str, Any]], path: str | Path, title: str = "training loss") -> Path | None:
    pts = [(h["step"], float(h["loss"])) for h in history if "loss" in h and "step" in h]
    if not pts:
        return None
    fig, ax = new_figure((6, 3.6))
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, lw=1.5, color="#2f6fde")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
