"""algoport-protect: an algoport extension that encrypts every algorithm's model files.

See README.md: with ``ALGOPORT_MODEL_KEY_FILE`` set, ``fit``'s files are sealed with
AES-256-GCM as soon as ``fit`` returns and opened in memory for ``load``; unset, nothing
changes.
"""
