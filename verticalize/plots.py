"""Plots people would rather look at than read: the loss curve of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["loss_curve"]


def loss_curve(history: list[dict[str, Any]], path: str | Path, title: str = "training loss") -> Path | None:
    pts = [(h["step"], float(h["loss"])) for h in history if "loss" in h and "step" in h]
    if not pts:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, lw=1.5, color="#2f6fde")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
