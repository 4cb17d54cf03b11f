"""`python -m refad`: the command line.

The command line lives in `reports/` (it drives every layer); importing the `refad`
library never imports it: only this entry point does.
"""

import importlib
import sys

if __name__ == "__main__":
    sys.exit(importlib.import_module("refad.reports.cli").main())
