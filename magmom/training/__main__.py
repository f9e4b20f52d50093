"""``python -m magmom.training``: see :mod:`magmom.training.cli`."""

import sys

from magmom.training.cli import main

sys.exit(main())
