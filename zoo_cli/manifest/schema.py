"""`zoo manifest schema`"""

import click


@click.command("schema")
def schema_command() -> None:
    """Print the manifest JSON Schema (the same as manifests/schema.json)."""
    from registry.manifest import json_schema
    from zoo_cli.terminal import terminal

    terminal.json(json_schema())
