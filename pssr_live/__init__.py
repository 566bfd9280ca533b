"""pssr-live: live five-frame restoration of undersampled confocal streams."""

__version__ = "0.1.0"
