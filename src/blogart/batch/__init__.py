"""Many posts at once: CI mode, the resumable backfill job table, and its local and Ray engines."""
