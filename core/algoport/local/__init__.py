"""``algoport local``: the SageMaker workflow on one machine, without Docker.

Each stage runs the real thing: ``train`` as its own process on a SageMaker-shaped
directory, the model packed into ``model.tar.gz`` and extracted safely for ``serve``, and a
batch transform client that splits, batches and assembles as SageMaker does.
"""
