"""Sealed files: AES-256-GCM, one fresh nonce per file, the file's place in the model bound in.

A sealed file is ``MAGIC | nonce (12 bytes) | ciphertext | tag (16 bytes)``. The associated
data is ``MAGIC`` and the file's path relative to the model directory, so a sealed file moved
to another name, or one model's file put into another, fails to open. Files are streamed in
chunks: a model file of any size is sealed and opened in bounded memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from algoport import PlatformError, atomic_write
from algoport_protect.key import KEY_FILE, ModelKey

MAGIC = b"ALGOPRT1"  # names the format and its version
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = len(MAGIC) + NONCE_SIZE + TAG_SIZE
CHUNK = 1024 * 1024


def _associated_data(relative: str) -> bytes:
    return MAGIC + b"\0" + relative.encode("utf-8")


def _cipher(key: ModelKey, nonce: bytes, tag: bytes | None = None) -> Cipher[modes.GCM]:
    return Cipher(algorithms.AES(key.secret), modes.GCM(nonce, tag))


def seal_file(path: Path, relative: str, key: ModelKey) -> None:
    """Replace the file at ``path`` with its sealed form, atomically."""
    nonce = os.urandom(NONCE_SIZE)
    encryptor = _cipher(key, nonce).encryptor()
    encryptor.authenticate_additional_data(_associated_data(relative))
    with path.open("rb") as plain, atomic_write(path) as sealed:
        sealed.write(MAGIC + nonce)
        while chunk := plain.read(CHUNK):
            sealed.write(encryptor.update(chunk))
        sealed.write(encryptor.finalize())
        sealed.write(encryptor.tag)


def wrong_key_or_modified(relative: str, key: ModelKey, why: str) -> PlatformError:
    return PlatformError(
        f"Model file {relative} {why} with the key in {KEY_FILE.name} ({key.path}, key id "
        f"{key.id}): wrong key or modified file. Serve the model with the key it was trained "
        "with, from an unmodified model.tar.gz."
    )


def open_file(path: Path, relative: str, key: ModelKey, out: BinaryIO) -> None:
    """Write the plaintext of the sealed file at ``path`` to ``out``; check it whole."""
    size = path.stat().st_size
    body = size - OVERHEAD
    with path.open("rb") as sealed:
        header = sealed.read(len(MAGIC) + NONCE_SIZE)
        if body < 0 or not header.startswith(MAGIC):
            raise wrong_key_or_modified(relative, key, "is not a sealed file")
        sealed.seek(size - TAG_SIZE)
        tag = sealed.read(TAG_SIZE)
        sealed.seek(len(header))
        decryptor = _cipher(key, header[len(MAGIC) :], tag).decryptor()
        decryptor.authenticate_additional_data(_associated_data(relative))
        while body > 0:
            chunk = sealed.read(min(CHUNK, body))
            if not chunk:
                raise wrong_key_or_modified(relative, key, "changed while it was read")
            body -= len(chunk)
            out.write(decryptor.update(chunk))
        try:
            out.write(decryptor.finalize())
        except InvalidTag:
            raise wrong_key_or_modified(relative, key, "does not decrypt") from None
