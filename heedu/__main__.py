"""``python -m heedu``: the heedu command line (see :mod:`heedu.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
