"""The extension's hooks: seal what every algorithm's ``fit`` wrote; open it for ``load``.

With no key configured (``ALGOPORT_MODEL_KEY_FILE`` unset) training is untouched, and
serving is untouched for any model that is not protected.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from contextlib import AbstractContextManager
from pathlib import Path

from algoport import PlatformError, TrainingJob, hookimpl
from algoport_protect.key import KEY_FILE, configured_key
from algoport_protect.marker import MARKER_NAME, Marker
from algoport_protect.model import opened_model_dir, seal_model_dir

log = logging.getLogger("algoport.protect")


@hookimpl(wrapper=True)
def fit(job: TrainingJob) -> Generator[None, None, None]:
    key = configured_key()  # a bad key setting stops the job before it trains
    if key is None:
        return (yield)
    # Sealed even when fit failed or was stopped: whatever it left may be uploaded.
    try:
        return (yield)
    finally:
        files = seal_model_dir(job.model_dir, key)
        log.info("model files encrypted (AES-256-GCM, key id %s): %d file(s)", key.id, len(files))


@hookimpl
def open_model(model_dir: Path) -> AbstractContextManager[Path] | None:
    marker = Marker.read(model_dir)
    if marker is None:
        return None
    key = configured_key()
    if key is None:
        raise PlatformError(
            f"The model in {model_dir} is encrypted ({MARKER_NAME}) and {KEY_FILE.name} is not "
            f"set, so it cannot be decrypted. Set {KEY_FILE.name} to the key file it was "
            "trained with (images/build --model-key bakes one into the image)."
        )
    return opened_model_dir(model_dir, marker, key)
