"""``python -m sseclient_sync``: see ``sseclient_sync._cli``."""

import sys

from ._cli import main

sys.exit(main())
