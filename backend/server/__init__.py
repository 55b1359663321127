"""``assistant serve``: the backend over HTTP on loopback (OpenAI- and
Ollama-compatible endpoints), secure by default. See ``app.create_app``."""
