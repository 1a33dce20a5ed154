"""What exported scripts import (``from nbtrack import export_runtime``), kept so that scripts exported by
earlier versions keep running: this name is the module :mod:`nbtrack.exporting.runtime` itself."""

import sys

from nbtrack.exporting import runtime

sys.modules[__name__] = runtime
