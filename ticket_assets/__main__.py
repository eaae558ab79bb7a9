"""`python -m ticket_assets`: the command line (ticket_assets/cli/)."""

import sys

from ticket_assets.cli import main

if __name__ == "__main__":
    sys.exit(main())
