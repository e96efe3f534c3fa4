"""Admin for constituency alerts and their digests."""
