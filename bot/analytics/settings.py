"""Settings of satisfaction logging, read from the environment (the variables are in ``knowledge.env``)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from knowledge.env import Env
from knowledge.settings import PROJECT_ROOT


@dataclass(frozen=True)
class AnalyticsSettings:
    """Survey and analytics-writer settings.

    ``SURVEY_IDLE_SECONDS`` (600; 0 = never ask after idleness), ``SURVEY_SWEEP_SECONDS`` (30),
    ``ANALYTICS_SPOOL_PATH`` (local append-only fallback file for writes while the database is down;
    default ``var/analytics/spool-<hash of DATABASE_URL>.jsonl``), ``ANALYTICS_BUFFER_MAX`` (50000
    writes kept in memory), ``ANALYTICS_RETRY_SECONDS`` (2), ``ANALYTICS_DB_TIMEOUT`` (3 s per write).
    """

    idle_seconds: float = 600.0
    sweep_seconds: float = 30.0
    spool_path: Optional[Path] = None
    buffer_max: int = 50_000
    retry_seconds: float = 2.0
    db_timeout: float = 3.0

    @classmethod
    def from_env(cls, database_url: str, env: Optional[Mapping[str, str]] = None) -> AnalyticsSettings:
        """Read the settings from ``env`` (``os.environ`` by default); the spool file is per database."""
        read = Env(env)
        spool = read.text("ANALYTICS_SPOOL_PATH")
        if spool:
            path = Path(spool)
        else:
            digest = hashlib.sha256(database_url.encode("utf-8")).hexdigest()[:12]
            path = PROJECT_ROOT / "var" / "analytics" / f"spool-{digest}.jsonl"
        return cls(
            idle_seconds=read.number("SURVEY_IDLE_SECONDS", 600.0),
            sweep_seconds=max(1.0, read.number("SURVEY_SWEEP_SECONDS", 30.0)),
            spool_path=path,
            buffer_max=int(read.number("ANALYTICS_BUFFER_MAX", 50_000)),
            retry_seconds=max(0.05, read.number("ANALYTICS_RETRY_SECONDS", 2.0)),
            db_timeout=max(0.1, read.number("ANALYTICS_DB_TIMEOUT", 3.0)),
        )
