"""``python -m ui``: the control panel."""

import sys

from ui import main

sys.exit(main(sys.argv[1:]))
