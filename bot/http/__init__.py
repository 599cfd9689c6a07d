"""The HTTP side: the aiohttp routes, the read-only API, the incident pages."""
