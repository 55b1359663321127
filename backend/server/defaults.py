"""Where ``assistant serve`` listens unless told otherwise (light to import,
for the CLI's ``--help``)."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
