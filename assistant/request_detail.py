"""One logged request as text: what ``assistant log show`` prints and the
request log screen's detail view shows (prompt versions, model file and
hash, parameters, the messages as sent, the output), and a replay's verdict."""

from __future__ import annotations

from assistant.cli.output import number
from backend.api import ReplayResult, RequestDetail


def detail_text(d: RequestDetail) -> str:
    r = d.request
    lines = [f"request {r.id}  {r.created_at[:19].replace('T', ' ')} UTC  stage {r.stage}"]
    lines.append(f"model    {r.model} ({r.runtime})")
    if d.model_path:
        lines.append(f"file     {d.model_path}")
        lines.append(
            f"sha256   {d.model_sha256 or 'unknown (the file changed before it was hashed)'}"
        )
    if d.adapter_path:
        lines.append(f"adapter  {d.adapter_path} sha256 {d.adapter_sha256}")
    if d.params:
        lines.append("params   " + ", ".join(f"{k}={v}" for k, v in sorted(d.params.items())))
    lines.append(
        f"figures  prompt {r.prompt_tokens or 0} tok, completion {r.completion_tokens or 0} tok, "
        f"TTFT {number(r.ttft_ms, ' ms')}, stop {r.stop_reason or '-'}"
    )
    lines += [f"prompt   {p.label}" for p in d.prompts]
    if d.messages is None:
        if d.model_name is None:
            lines.append("\n(no inputs logged: this stage called no model)")
        else:
            lines.append("\n(full text not kept: [log] keep_full_text is off, or it was purged)")
        return "\n".join(lines)
    for m in d.messages:
        lines.append(f"\n--- {m.role}\n{m.content}")
    if d.tools:
        lines.append(f"\n--- tools offered\n{d.tools}")
    lines.append(f"\n=== output\n{d.output or ''}")
    return "\n".join(lines)


def replay_text(r: ReplayResult, with_notes: bool = True) -> str:
    """The verdict, then the reply (identical) or the diff; ``with_notes``
    puts the replay's notes first (the CLI prints them on stderr)."""
    verdict = "identical" if r.identical else "DIFFERENT"
    lines = [f"note: {note}" for note in r.notes] if with_notes else []
    lines.append(
        f"request {r.request_id} replayed as {r.replay_request_id} on {r.model} ({r.sampling}):"
    )
    lines.append(f"{verdict} ({len(r.replayed)} characters, TTFT {number(r.ttft_ms, ' ms')})")
    lines.append(r.replayed if r.identical else r.diff.rstrip("\n"))
    return "\n".join(lines)
