"""``algoport-protect.json``: the readable record, beside the manifest, that a model is sealed.

It names the sealed files and the key's id, and carries a GCM tag over the list of files, so
a sealed file removed together with its entry is noticed as surely as a changed file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from algoport import PlatformError, atomic_write
from algoport_protect.key import KEY_FILE, ModelKey
from algoport_protect.sealing import MAGIC, NONCE_SIZE

MARKER_NAME = "algoport-protect.json"
CIPHER = "AES-256-GCM"


def _listing(files: list[str]) -> bytes:
    return MAGIC + b"\0files\0" + "\0".join(files).encode("utf-8")


@dataclass(frozen=True)
class Marker:
    files: list[str]
    key_id: str
    files_tag: str

    @classmethod
    def for_files(cls, files: list[str], key: ModelKey) -> Marker:
        nonce = os.urandom(NONCE_SIZE)
        tag = AESGCM(key.secret).encrypt(nonce, b"", _listing(files))
        return cls(files, key.id, (nonce + tag).hex())

    def write(self, model_dir: Path) -> None:
        record = {
            "protected_by": "algoport-protect",
            "cipher": CIPHER,
            "format": MAGIC.decode(),
            "key_id": self.key_id,
            "files": self.files,
            "files_tag": self.files_tag,
        }
        with atomic_write(model_dir / MARKER_NAME) as out:
            out.write((json.dumps(record, indent=2) + "\n").encode("utf-8"))

    @classmethod
    def read(cls, model_dir: Path) -> Marker | None:
        path = model_dir / MARKER_NAME
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            marker = cls(
                files=[str(name) for name in record["files"]],
                key_id=str(record["key_id"]),
                files_tag=str(record["files_tag"]),
            )
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError) as exc:
            raise PlatformError(
                f"{path} is not a valid {MARKER_NAME} ({type(exc).__name__}: {exc}); was the "
                "model altered? Serve an unmodified model.tar.gz."
            ) from None
        if record.get("format") != MAGIC.decode():
            raise PlatformError(
                f"{path} names format {record.get('format')!r}; this algoport-protect reads "
                f"{MAGIC.decode()!r}. Serve the model with the algoport-protect it was trained "
                "with."
            )
        return marker

    def check(self, key: ModelKey) -> None:
        """Stop unless ``key`` is the model's key and the list of files is as sealed."""
        if key.id != self.key_id:
            raise PlatformError(
                f"The model was protected with the key whose id is {self.key_id}, but "
                f"{KEY_FILE.name} ({key.path}) holds key id {key.id}: wrong key or modified "
                f"{MARKER_NAME}. Serve the model with the key it was trained with."
            )
        try:
            raw = bytes.fromhex(self.files_tag)
            AESGCM(key.secret).decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], _listing(self.files))
        except (ValueError, InvalidTag):
            raise PlatformError(
                f"The list of files in {MARKER_NAME} does not match its tag under the key in "
                f"{KEY_FILE.name} ({key.path}): wrong key or modified file. Serve an "
                "unmodified model.tar.gz."
            ) from None
