"""``python -m cvm.reporting.definitions docs/reports.md``: regenerate the reports' documentation page."""

import sys

from cvm.reporting.definitions import main

raise SystemExit(main(sys.argv[1:]))
