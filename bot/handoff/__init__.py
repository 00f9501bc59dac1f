"""Live-agent handoff: escalate a conversation to a tax officer, queue, claim, chat, close.

Where things are:

- ``policy``: when to escalate, service hours, capacity (importable without aiohttp: the action server uses it);
- ``model``: statuses, claim results, the stored ``HandoffRecord``, ``HandoffError``;
- ``store/``: shared state (``MemoryHandoffStore``, ``RedisHandoffStore`` with its Lua scripts);
- ``manager``: ``HandoffManager``, the app's one object and turn hook, composed of
  ``taxpayer`` (escalate, queue, cancel, offline messages), ``agent`` (claim, talk, close, requeue, sweep),
  ``console`` (snapshots, console sockets and presence) and ``fanout`` (events to every instance's clients);
- ``effects``: event log, transcripts, publishing, routes and Rasa's pause, never failing the caller;
- ``auth``, ``sessions``, ``login_guard``: console sign-in, server-side sessions, login lockout;
- ``audit``: the staff access log (transcripts opened, contacts revealed);
- ``views``, ``knowledge_search``, ``setup``: the HTTP side and the wiring.
"""
