"""``python -m backend.modelhub pull|search|quants ...``: Hub work in a worker process
(see ``worker``)."""

import sys

from backend.modelhub.worker import main

sys.exit(main())
