"""What a name zoo keeps may look like (a variant, model, family or component id), in a module of its own
so that registering a component does not import the manifest models."""

IDENTIFIER = r"[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?"
"""Lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit."""
