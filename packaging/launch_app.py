"""Entry script of the frozen ``netbuilder-app`` (no console window); see netbuilder.spec."""

import multiprocessing
import sys

from netbuilder_ui.gui_entry import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # data-loader workers re-enter this executable on Windows/macOS
    sys.exit(main())
