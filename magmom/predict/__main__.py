"""``python -m magmom.predict``: see :mod:`magmom.predict.cli`."""

import sys

from magmom.predict.cli import main

sys.exit(main())
