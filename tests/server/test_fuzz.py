"""Random JSON at every POST endpoint: never a 5xx."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Running

PATHS = ["/v1/chat/completions", "/v1/embeddings", "/api/chat", "/api/generate", "/api/embed"]
KEYS = [
    "model",
    "messages",
    "input",
    "prompt",
    "stream",
    "options",
    "max_tokens",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "documents",
    "tools",
    "role",
    "content",
    "num_predict",
    "encoding_format",
    "system",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["user", "system", "fake-model", "tool"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(KEYS), values, max_size=6) | values


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), body=bodies)
def test_random_json_never_500(served: Running, path: str, body: object) -> None:
    if isinstance(body, dict) and "max_tokens" not in body:
        body["max_tokens"] = 4  # keep real work small when a body happens to be valid
    r = httpx.post(
        served.url + path, content=json.dumps(body), headers=served.headers(), timeout=60
    )
    assert r.status_code < 500, (path, body, r.text)
