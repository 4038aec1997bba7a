"""The version, on the ground floor: the package, the header of generated modules and the CLI
read it."""

__version__ = "0.1.0"
