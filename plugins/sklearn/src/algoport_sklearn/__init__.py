"""scikit-learn algorithms for algoport: ``random-forest``, ``linear`` and ``kmeans``.

Each algorithm is a class whose methods are algoport hooks (see ``algoport.hookspecs``);
the entry points in ``pyproject.toml`` name them. Models are saved with skops, never
pickle, and loaded against an explicit list of trusted types.
"""

__version__ = "0.1.0"
