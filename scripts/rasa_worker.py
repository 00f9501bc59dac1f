"""`rasa run --enable-api` with its API token taken from RASA_TOKEN, so that the token is never in argv.

    RASA_TOKEN=... python -m scripts.rasa_worker --model M --endpoints E --port 5005 [other `rasa run` options]

A command line is readable by every user of the machine (``ps``, ``/proc/<pid>/cmdline``); the environment
is not. Rasa 3.6 reads the token only from ``--auth-token``, so this launcher hands Rasa's own command line
entry point the options given plus ``--enable-api --auth-token=<token>`` inside this process: the kernel's
copy of the command line, the one others can read, never holds it.
"""

from __future__ import annotations

import sys
from typing import List, Sequence

from knowledge.env import Env, SettingsError


def rasa_arguments(options: Sequence[str], token: str) -> List[str]:
    """Rasa's argv for `rasa run` with ``options``, the HTTP API on and ``token`` as its token.

    Raises:
        ValueError: ``options`` already hold a token.
    """
    for option in options:
        if option in ("-t", "--auth-token") or option.startswith("--auth-token="):
            raise ValueError("pass the Rasa API token as RASA_TOKEN, not on the command line")
    # "=": a token may start with "-", which argparse would take for an option
    return ["rasa", "run", *options, "--enable-api", f"--auth-token={token}"]


def main() -> None:
    """Start `rasa run` in this process with the token of RASA_TOKEN."""
    try:
        token = Env().text("RASA_TOKEN")
    except SettingsError as exc:
        sys.exit(str(exc))
    if not token:
        sys.exit("RASA_TOKEN is not set: the Rasa worker's HTTP API needs a token")
    try:
        sys.argv = rasa_arguments(sys.argv[1:], token)  # what `rasa run` reads: this process's own argv
    except ValueError as exc:
        sys.exit(str(exc))
    from rasa.__main__ import main as rasa_main  # Rasa (and TensorFlow) load only in the worker

    rasa_main()


if __name__ == "__main__":
    main()
