"""``python -m backend.modelhub pull ...``: one pull in a worker process (see ``worker``)."""

import sys

from backend.modelhub.worker import main

sys.exit(main())
