"""``python -m studies`` is the ``servicelab`` command."""

import sys

from studies.cli import main

sys.exit(main())
