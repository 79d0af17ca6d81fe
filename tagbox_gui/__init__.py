"""TagBox GUI: separate any instrument you name out of a song by steering music taggers."""

__version__ = "0.1.0"
APP_NAME = "TagBox GUI"
