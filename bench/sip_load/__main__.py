"""`python -m bench.sip_load [--full]`: see bench/sip_load/__init__.py."""

import sys

from bench.sip_load import main

sys.exit(main())
