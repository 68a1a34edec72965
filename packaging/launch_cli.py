"""Entry script of the frozen ``netbuilder`` command (console); see netbuilder.spec."""

import multiprocessing
import sys

from netbuilder.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # data-loader workers re-enter this executable on Windows/macOS
    sys.exit(main())
