"""``python -m vcam``: the same as the ``vcam`` command."""

import sys

from vcam.cli import main

if __name__ == "__main__":
    sys.exit(main())
