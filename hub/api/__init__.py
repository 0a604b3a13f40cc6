"""JSON API under /api/v1/ for cameras, events, commands and the live stream."""
