"""``algoport-manifest.json``: which algorithm made a model, so serving can pick it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from algoport.errors import PlatformError
from algoport.files import atomic_write_text

MANIFEST_NAME = "algoport-manifest.json"


@dataclass(frozen=True)
class Manifest:
    algorithm: str
    distribution: str | None
    version: str | None
    algoport_version: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def write(self, model_dir: Path) -> Path:
        path = model_dir / MANIFEST_NAME
        atomic_write_text(path, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, model_dir: Path) -> Manifest | None:
        path = model_dir / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise PlatformError(
                f"{path} is not valid JSON ({exc}); was the model altered?"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("algorithm"), str):
            raise PlatformError(f"{path} names no algorithm; was the model altered?")
        return cls(
            algorithm=data["algorithm"],
            distribution=data.get("distribution"),
            version=data.get("version"),
            algoport_version=str(data.get("algoport_version", "")),
            hyperparameters=dict(data.get("hyperparameters") or {}),
        )
