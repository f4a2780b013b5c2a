"""Offline batch prediction: any installed algorithm over files, on Ray Data or in-process.

:class:`Predictor` is a callable class for ``ray.data.Dataset.map_batches``::

    dataset.map_batches(Predictor, fn_constructor_args=("model.tar.gz",),
                        batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=4))
"""

from algoport.batch.predictor import Predictor

__all__ = ["Predictor"]
