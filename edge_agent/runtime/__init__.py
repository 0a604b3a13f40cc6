"""Agent runtime: per-camera workers, the supervisor, heartbeats and systemd integration."""
