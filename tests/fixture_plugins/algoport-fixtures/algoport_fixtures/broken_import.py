"""A plugin whose import fails, as a plugin with a missing dependency does."""

import algoport_missing_dependency  # noqa: F401
