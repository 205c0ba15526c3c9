"""``cvm keys``: API keys for the HTTP service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import JsonFlag, Workspace
from cvm.contracts.vocabulary import ROLES

app = typer.Typer(help="Create, list and revoke API keys (admin, analyst, ingest).", no_args_is_help=True)


@app.command()
def create(
    role: Annotated[str, typer.Option(help=f"Role: {', '.join(ROLES)}.")],
    label: Annotated[str | None, typer.Option(help="A note on who or what uses the key.")] = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Create a key. The key is printed once and only its hash is stored."""
    engine = open_engine(workspace)
    with handled():
        key, secret = engine.access.create_key(role, label)
    if json_out:
        console.json({"id": key.id, "key": secret, "role": key.role})
        return
    console.print(f"Created {key.role} key [bold]{key.id}[/bold]. Store it now; it is not shown again:")
    console.print(secret)


@app.command("list")
def list_(workspace: Workspace = Path("."), json_out: JsonFlag = False) -> None:
    """List keys (never their secrets)."""
    keys = open_engine(workspace).access.list_keys()
    rows = [
        {
            "id": k.id,
            "role": k.role,
            "label": k.label,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
            "active": k.active,
        }
        for k in keys
    ]
    if json_out:
        console.json(rows)
        return
    console.table(
        "API keys",
        ["id", "role", "label", "created", "revoked"],
        ([r["id"], r["role"], r["label"], r["created_at"], r["revoked_at"]] for r in rows),
    )


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="Id of the key to revoke.")],
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Revoke a key at once."""
    engine = open_engine(workspace)
    with handled():
        key = engine.access.revoke_key(key_id)
    if json_out:
        console.json({"id": key.id, "revoked_at": key.revoked_at})
    else:
        console.print(f"Revoked key {key.id}.")
