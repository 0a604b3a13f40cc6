"""Hub media: content-addressed storage of uploaded snapshots and clips, and the live-view relay."""
