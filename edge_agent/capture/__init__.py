"""Frame capture: one source interface, several kinds, each camera read in its own process."""
