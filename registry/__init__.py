"""zoo's core library: manifests, the plugin host, the catalog and the resolver.

The core never imports a built-in plugin by name; everything a family, source or converter
contributes arrives through the `zoo` entry-point group (see registry.plugins).
"""

__version__ = "0.1.0"
