"""`zoo manifest schema`"""

import click


@click.command("schema")
@click.option("--markdown", is_flag=True, help="Print the reference as Markdown (docs/manifest.md) instead.")
def schema_command(markdown: bool) -> None:
    """Print the manifest JSON Schema (the same as manifests/schema.json)."""
    from zoo_cli.terminal import terminal

    if markdown:
        from registry.manifest.reference import render

        terminal.line(render())
        return
    from registry.manifest import json_schema

    terminal.json(json_schema())
