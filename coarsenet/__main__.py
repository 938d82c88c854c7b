"""`python -m coarsenet ...`: see coarsenet.cli."""
import sys

from .cli import main

sys.exit(main())
