"""zoo's built-in plugins.

Each module is an ordinary plugin, registered through the `zoo` entry-point group in
pyproject.toml exactly as a third-party package would be; the core never imports them by name.
"""
