"""XGBoost as an algoport algorithm, speaking SageMaker's built-in XGBoost dialect.

The entry point ``xgboost`` (group ``algoport.algorithms``) names
:mod:`algoport_xgboost.plugin`, which holds the hooks.
"""

__version__ = "0.1.0"
