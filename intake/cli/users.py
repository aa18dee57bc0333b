"""`intake users ...`: add review-app users, print API tokens, list and change users."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from intake.context import Context
from intake.review.users import ROLES, UserError, add_user, change, new_token, users_list

ACTOR = "cli"


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise UserError("the passwords differ")
    return first


async def cmd_add(ctx: Context, args: argparse.Namespace) -> int:
    try:
        user = await add_user(ctx, args.name, args.role, _read_password(args), ACTOR)
    except UserError as exc:
        print(f"users add: {exc}", file=sys.stderr)
        return 1
    print(f"user {user.name} added ({user.role})")
    return 0


async def cmd_token(ctx: Context, args: argparse.Namespace) -> int:
    try:
        token = await new_token(ctx, args.name, ACTOR)
    except UserError as exc:
        print(f"users token: {exc}", file=sys.stderr)
        return 1
    print(token)  # alone on stdout, so scripts can capture it
    return 0


async def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    users = await users_list(ctx)
    if args.json:
        json.dump(users, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{'NAME':24} {'ROLE':12} {'TOKEN':6} STATE")
    for u in users:
        state = "disabled" if u["disabled"] else "active"
        print(f"{u['name']:24} {u['role']:12} {'yes' if u['has_token'] else '-':6} {state}")
    return 0


async def cmd_set(ctx: Context, args: argparse.Namespace) -> int:
    password = _read_password(args) if args.password or args.password_stdin else None
    disabled = True if args.disable else False if args.enable else None
    try:
        await change(ctx, args.name, ACTOR, role=args.role, password=password, disabled=disabled)
    except UserError as exc:
        print(f"users set: {exc}", file=sys.stderr)
        return 1
    print(f"user {args.name} changed")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="review-app users").add_subparsers(dest="u",
                                                                            required=True)
    add = users.add_parser("add", help="add a user (the password is prompted for)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(func=cmd_add)
    token = users.add_parser("token", help="print a new API token for a user (replaces the old)")
    token.add_argument("name")
    token.set_defaults(func=cmd_token)
    lst = users.add_parser("list", help="list users")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)
    change_ = users.add_parser("set", help="change a user's role, password or state")
    change_.add_argument("name")
    change_.add_argument("--role", choices=ROLES)
    change_.add_argument("--password", action="store_true", help="prompt for a new password")
    change_.add_argument("--password-stdin", action="store_true")
    state = change_.add_mutually_exclusive_group()
    state.add_argument("--disable", action="store_true")
    state.add_argument("--enable", action="store_true")
    change_.set_defaults(func=cmd_set)
