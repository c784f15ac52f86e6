"""``python -m devhost.worker ...``: the worker process devhost starts (see devhost.worker)."""

import sys

from devhost.worker._process import main

sys.exit(main())
