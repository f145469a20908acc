"""`zoo manifest ...`: tools for manifest authors."""

import click

from zoo_cli.root import LazyGroup


@click.group(
    "manifest",
    cls=LazyGroup,
    lazy_commands={
        "validate": "zoo_cli.manifest.validate:validate_command",
        "schema": "zoo_cli.manifest.schema:schema_command",
        "pin": "zoo_cli.manifest.pin:pin_command",
    },
)
def manifest_group() -> None:
    """Validate manifests, print their JSON Schema, pin observed digests."""
