"""Standalone scripts that run inside converter toolchains as child processes.

They import only the standard library and their toolchain's packages, never zoo itself (whose
dependencies the toolchains do not have). Protocol: registry/child.py.
"""
