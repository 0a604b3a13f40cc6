"""Metro hub: event ingestion, operator dashboard, citizen complaints and conferences."""

from metro_common import __version__

__all__ = ["__version__"]
