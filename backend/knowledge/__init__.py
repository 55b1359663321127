"""The knowledge base: watched folders parsed, chunked, embedded and indexed
(sqlite-vec vectors + FTS5 keywords) in the same SQLite file as everything
else, and searched."""
