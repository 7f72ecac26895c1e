"""``python -m render.cli``: the ``synthcv`` command."""

import sys

from render.cli import main

sys.exit(main())
