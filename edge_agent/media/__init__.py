"""Media at the edge: privacy masks, snapshots, event clips, local store, upload and live view.

``pipeline.CameraMedia`` is the entry point for the agent runtime; the other modules
are its parts, with pure logic (masks, retention, clip planning, rate caps) kept
apart from threads, files and HTTP.
"""
