"""Reference clips: reading and writing video, ingestion, preprocessing."""
