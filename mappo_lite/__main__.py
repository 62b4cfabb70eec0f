"""``python -m mappo_lite``: see :mod:`mappo_lite.cli`."""

import sys

from .cli import main

sys.exit(main())
