"""``python -m augment``: the ``synthcv augment`` command without the main CLI."""

import sys

from augment.cli import main

sys.exit(main(sys.argv[1:]))
