"""``python -m algoport …`` is the ``algoport`` command."""

import sys

from algoport.cli import main

sys.exit(main())
