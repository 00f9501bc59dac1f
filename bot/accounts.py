"""Agent console accounts.

    python -m bot.accounts create --username wang --role agent [--display-name "Wang Li"]  # password: stdin/prompt
    python -m bot.accounts set-password --username wang
    python -m bot.accounts disable --username wang | enable --username wang
    python -m bot.accounts set-role --username wang --role admin
    python -m bot.accounts list

The database is DATABASE_URL (as the gateway); migrations run to head first. Passwords are hashed
with bcrypt (BCRYPT_ROUNDS, default 12); when stdin is not a terminal the first line is the password.
``disable``, ``set-role`` and ``set-password`` end the account's console sessions on every gateway
(in the database, or in Redis when REDIS_URL is set); open consoles close within seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import TYPE_CHECKING, List, Optional

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import create_engine
from bot.db.handoff_repository import ROLES, AccountExists, HandoffRepository
from bot.db.migrate import upgrade_head
from bot.handoff.auth import hash_password, session_store
from bot.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: The commands after which the account's sessions end.
ENDS_SESSIONS = ("set-password", "disable", "set-role")


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
        elif args.command == "set-role":
            changed = await repo.update_account(args.username, role=args.role)
        else:
            changed = await repo.update_account(args.username, active=args.command == "enable")
        if not changed:
            print(f"error: no account {args.username!r}", file=sys.stderr)
            return 1
        if args.command in ENDS_SESSIONS:
            ended = await end_sessions(settings, engine, args.username)
            print(f"{args.command}: {args.username} ({ended} console session(s) ended)")
        else:
            print(f"{args.command}: {args.username}")
        return 0
    finally:
        await engine.dispose()


async def end_sessions(settings: Settings, engine: AsyncEngine, username: str) -> int:
    """End every console session of ``username`` where the gateways keep them; how many."""
    client: Optional["Redis[bytes]"] = None
    if settings.redis_url:
        client = aioredis.from_url(settings.redis_url, socket_connect_timeout=settings.connect_timeout)
    try:
        return await session_store(settings, engine, client).revoke_user(username)
    finally:
        if client is not None:
            await client.close(close_connection_pool=True)


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
    set_role = sub.add_parser("set-role", help="give the account another role (its sessions end)")
    set_role.add_argument("--username", required=True)
    set_role.add_argument("--role", choices=ROLES, required=True)
    sub.add_parser("list")
    args = parser.parse_args(argv)
    if getattr(args, "username", None) is not None and not (1 <= len(args.username) <= 64):
        parser.error("--username must have 1 to 64 characters")
    return asyncio.run(run(args, Settings.from_env()))


if __name__ == "__main__":
    sys.exit(main())
