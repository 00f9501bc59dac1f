"""Prometheus metrics of the gateway, kept in a registry per application."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    """Counters, histogram and gauge exported at ``/metrics``."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "taxguide_messages",
            "Messages handled, by channel and sender type.",
            ["channel", "sender_type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "taxguide_reply_latency_seconds",
            "Time from a taxpayer message to the bot reply.",
            ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 10),
            registry=self.registry,
        )
        self.errors = Counter(
            "taxguide_errors",
            "Errors, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.replayed = Counter(
            "taxguide_retries_replayed",
            "Retried messages (same Idempotency-Key) answered with the replies already given.",
            registry=self.registry,
        )
        self.open_sessions = Gauge(
            "taxguide_socket_sessions_open",
            "Open socket.io connections.",
            registry=self.registry,
        )

    def error(self, kind: str) -> None:
        """Count one error of ``kind``."""
        self.errors.labels(kind=kind).inc()

    def render(self) -> bytes:
        """Exposition text of all metrics."""
        return bytes(generate_latest(self.registry))
