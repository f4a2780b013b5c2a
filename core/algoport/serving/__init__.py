"""``serve``: the inference half of the contract, on starlette and hypercorn."""
