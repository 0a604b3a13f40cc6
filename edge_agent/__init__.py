"""Metro edge agent: camera capture, detection, tracking and event publishing."""

from metro_common import __version__

__all__ = ["__version__"]
