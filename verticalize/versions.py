"""The package versions a run or a lock records (read from installed metadata: no imports)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["PACKAGES", "package_versions"]

PACKAGES = ("verticalize", "torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes",
            "evaluate", "pydantic")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
