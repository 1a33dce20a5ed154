"""``python -m nbtrack.cli``: the same as the ``nbtrack`` command."""

import sys

from nbtrack.cli import main

sys.exit(main())
