"""Console authentication helpers: no bcrypt work at import, wrapped handlers keep their identity."""
from __future__ import annotations

import subprocess
import sys

from bot.handoff import auth, views


def test_import_does_no_bcrypt_work() -> None:
    code = ("import bcrypt\n"
            "def refuse(*a, **k): raise SystemExit('bcrypt ran at import')\n"
            "bcrypt.hashpw = bcrypt.checkpw = bcrypt.gensalt = refuse\n"
            "import bot.handoff.auth, bot.handoff.views, bot.app\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_unknown_users_cost_a_bcrypt_check_too() -> None:
    hashed = auth.hash_password("correct horse", rounds=4)
    assert auth.check_password("correct horse", hashed) and not auth.check_password("wrong horse", hashed)
    assert auth.check_password("correct horse", None) is False
    assert auth._dummy_hash() is auth._dummy_hash()  # computed once, on first use


def test_require_role_keeps_the_handler_identity() -> None:
    assert views.claim.__name__ == "claim" and views.claim.__doc__ == "Take a waiting conversation."
    assert views.claim.__wrapped__.__module__ == "bot.handoff.views"
