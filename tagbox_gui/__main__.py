"""``python -m tagbox_gui [SONG]`` starts the GUI."""

import sys

from tagbox_gui.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
