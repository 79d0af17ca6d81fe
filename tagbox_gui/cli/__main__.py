"""``python -m tagbox_gui.cli ...`` runs the `tagbox` command line."""

import sys

from tagbox_gui.cli import main

if __name__ == "__main__":
    sys.exit(main())
