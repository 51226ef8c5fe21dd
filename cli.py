"""Run the mawis command line from a checkout: ``python cli.py --help`` (same as ``mawis``)."""

import sys

from mawis.cli import main

if __name__ == "__main__":
    sys.exit(main())
