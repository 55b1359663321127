"""Answers grounded in the user's documents (retrieval-augmented generation).

One module per stage, composed by ``pipeline``:

- ``retrieval``: first-stage hybrid search (FTS5 + sqlite-vec, fused), the
  diversity step, and the signals that say whether retrieval was weak;
- ``rerank``: second-stage rerankers behind one interface (none,
  cross-encoder, LLM);
- ``query``: condensing follow-ups into standalone queries and rewriting a
  query once when retrieval is weak;
- ``injection``: spotting text that tries to instruct the assistant, flagged
  at index time and neutralised in the prompt;
- ``context``: the numbered, fenced ``[S1]`` ... source block within a token
  budget, and the instructions that come with it;
- ``citations``: mapping the answer's ``[Sn]`` markers back to sources;
- ``evaluate``: retrieval and answer metrics for ``assistant eval``.

``types`` holds the records these modules pass to one another.
"""
