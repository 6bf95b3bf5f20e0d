"""`python3 s3mount` (the zipapp) and `python -m s3mount` (a checkout) run the command line."""

import sys

from s3mount.cli import main

sys.exit(main())
