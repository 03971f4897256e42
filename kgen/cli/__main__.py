"""``python -m kgen.cli``: the ``kgen`` command."""

import sys

from kgen.cli import main

sys.exit(main())
