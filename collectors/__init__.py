"""Device collectors. Each protocol's I/O lives in exactly one `client.py`."""
