"""Tool calling: the tool type, the registry, built-in tools, MCP servers
and the constrained calling loop (see ``base`` first)."""
