"""The model key: 32 random bytes in the file ``ALGOPORT_MODEL_KEY_FILE`` names.

``images/build --model-key FILE`` copies the seller's key into the image and sets the
variable; unset, algoport-protect changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from algoport import PlatformError, Variable

KEY_SIZE = 32  # AES-256


def _path(raw: str) -> Path | None:
    return Path(raw)


KEY_FILE: Variable[Path | None] = Variable(
    "ALGOPORT_MODEL_KEY_FILE",
    _path,
    None,
    "the path of a file holding the 32-byte model key",
    "the model key (algoport-protect): `train` encrypts the model's files with it, `serve` "
    "decrypts them; unset, models are written and read as they are",
)


@dataclass(frozen=True)
class ModelKey:
    path: Path
    secret: bytes = field(repr=False)

    @property
    def id(self) -> str:
        """A fingerprint that tells keys apart and reveals nothing of the key."""
        return hmac.new(self.secret, b"algoport-protect key id", hashlib.sha256).hexdigest()[:16]


def configured_key(environ: Mapping[str, str] = os.environ) -> ModelKey | None:
    """The key ``ALGOPORT_MODEL_KEY_FILE`` names, or None when it is unset."""
    path = KEY_FILE.read(environ)
    if path is None:
        return None
    try:
        secret = path.read_bytes()
    except OSError as exc:
        raise PlatformError(
            f"{KEY_FILE.name} names {path}, which cannot be read ({exc.strerror}); expected "
            "the model key file. Fix the path or unset the variable."
        ) from None
    if len(secret) != KEY_SIZE:
        raise PlatformError(
            f"{KEY_FILE.name} names {path}, which holds {len(secret)} bytes; expected exactly "
            f"{KEY_SIZE} random bytes. Make a key with `head -c {KEY_SIZE} /dev/urandom > "
            "model.key`."
        )
    return ModelKey(path, secret)
