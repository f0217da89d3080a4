"""`reachwatch catalog`: list the shipped platforms and their hosts."""

from __future__ import annotations

import click
import orjson

from reachwatch.catalog import load_catalog
from reachwatch.cli._app import app


@app.command("catalog")
@click.argument("platform", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def catalog_command(platform: str | None, as_json: bool) -> None:
    """List platforms, or the hosts and URLs of one PLATFORM."""
    catalog = load_catalog()
    platforms = [catalog.get(platform)] if platform else list(catalog)
    if as_json:
        doc = {
            "platforms": [
                {
                    "name": p.name,
                    "title": p.title,
                    "domains": list(p.domains),
                    "asns": list(p.asns),
                    "hosts": [
                        {"host": h.host, "role": h.role, "urls": list(h.urls)} for h in p.hosts
                    ],
                }
                for p in platforms
            ]
        }
        click.echo(orjson.dumps(doc).decode())
        return
    for p in platforms:
        click.echo(f"{p.name:10} {p.title}")
        if platform:
            for h in p.hosts:
                click.echo(f"  {h.host:40} {h.role:12} {' '.join(h.urls)}")
