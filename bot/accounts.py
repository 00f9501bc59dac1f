"""Agent console accounts.

    python -m bot.accounts create --username wang --role agent [--display-name "Wang Li"]  # password: stdin/prompt
    python -m bot.accounts set-password --username wang
    python -m bot.accounts disable --username wang | enable --username wang
    python -m bot.accounts list

The database is DATABASE_URL (as the gateway); migrations run to head first. Passwords are hashed
with bcrypt (BCRYPT_ROUNDS, default 12); when stdin is not a terminal the first line is the password.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import List, Optional

from bot.db.engine import create_engine
from bot.db.handoff_repository import ROLES, AccountExists, HandoffRepository
from bot.db.migrate import upgrade_head
from bot.handoff.auth import hash_password
from bot.settings import Settings


def read_password(confirm: bool = True) -> str:
    """A password from standard input (one line) or an interactive prompt."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Repeat password: ") != password:
        raise SystemExit("the passwords differ")
    return password


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out one account command; the exit status."""
    engine = create_engine(settings.database_url)
    try:
        await upgrade_head(engine)
        repo = HandoffRepository(engine)
        if args.command == "list":
            for account in await repo.accounts():
                state = "active" if account["active"] else "disabled"
                print(f"{account['username']}\t{account['role']}\t{account['display_name']}\t{state}")
            return 0
        if args.command == "create":
            try:
                hashed = hash_password(read_password(), settings.bcrypt_rounds)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            try:
                await repo.create_account(args.username, hashed, args.role, args.display_name)
            except AccountExists:
                print(f"error: account {args.username!r} exists", file=sys.stderr)
                return 1
            print(f"created {args.role} account {args.username!r}")
            return 0
        if args.command == "set-password":
            try:
                hashed = hash_password(read_password(), settings.bcrypt_rounds)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            changed = await repo.update_account(args.username, password_hash=hashed)
        else:
            changed = await repo.update_account(args.username, active=args.command == "enable")
        if not changed:
            print(f"error: no account {args.username!r}", file=sys.stderr)
            return 1
        print(f"{args.command}: {args.username}")
        return 0
    finally:
        await engine.dispose()


def main(argv: Optional[List[str]] = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bot.accounts", description="Agent console accounts")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create an account (password from stdin or a prompt)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", choices=ROLES, default="agent")
    create.add_argument("--display-name")
    for name in ("set-password", "disable", "enable"):
        sub.add_parser(name).add_argument("--username", required=True)
    sub.add_parser("list")
    args = parser.parse_args(argv)
    if getattr(args, "username", None) is not None and not (1 <= len(args.username) <= 64):
        parser.error("--username must have 1 to 64 characters")
    return asyncio.run(run(args, Settings.from_env()))


if __name__ == "__main__":
    sys.exit(main())
