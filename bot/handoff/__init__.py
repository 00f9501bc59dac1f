"""Live-agent handoff. ``policy`` is importable without aiohttp (the action server uses it)."""
