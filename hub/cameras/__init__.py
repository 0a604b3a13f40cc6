"""Camera registry, live status and commands to agents."""
