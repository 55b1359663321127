"""CLI sub-commands of ``assistant eval``: ``retrieval``, ``answers``,
``generate``, ``own``, ``runs``, ``tools`` and ``routing``
(``assistant.cli.eval_routing``).

Long runs draw a one-line progress bar on stderr when it is a terminal
(nothing when piped, so ``--json`` output stays clean). Ctrl-C stops at
once: ``assistant.cli`` turns it into exit code 130, and nothing half-done
is saved (a run is stored only when it completes).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from assistant.cli.eval_routing import add_routing_parser, run_routing
from assistant.cli.local import open_local
from backend.api import EVAL_MODES, METRIC_KEYS, AssistantAPI, EvalProgress, EvalRun

COLUMNS = {
    "recall@1": "R@1",
    "recall@5": "R@5",
    "recall@10": "R@10",
    "mrr@10": "MRR",
    "passage_recall@1": "pR@1",
    "passage_recall@5": "pR@5",
    "passage_recall@10": "pR@10",
    "passage_mrr@10": "pMRR",
}


def add_parser(sub: Any) -> None:
    """Register ``eval`` and its actions on the top-level sub-parsers."""
    ev = sub.add_parser("eval", help="measure retrieval and answers (recall, faithfulness)")
    esub = ev.add_subparsers(dest="eval_command", metavar="ACTION", required=True)

    def run_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--label", default="", help="a note stored with the run")
        p.add_argument("--no-save", action="store_true", help="do not keep the run in history")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    def mode_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--mode",
            action="append",
            choices=EVAL_MODES,
            metavar="MODE",
            help=f"retrieval mode, repeatable (default all: {', '.join(EVAL_MODES)})",
        )
        p.add_argument("-k", type=int, default=10, help="passages retrieved per question")

    ret = esub.add_parser("retrieval", help="Recall@1/5/10 and MRR@10 per retrieval mode")
    ret.add_argument("file", help='JSONL question file: {"q", "gold": [paths], "answer"}')
    ret.add_argument("--root", required=True, help="the indexed folder gold paths are under")
    mode_options(ret)
    run_options(ret)

    ans = esub.add_parser("answers", help="faithfulness and citation precision of answers")
    ans.add_argument("file", help="JSONL question file")
    ans.add_argument("--root", required=True, help="the indexed folder gold paths are under")
    ans.add_argument("--limit", "-n", type=int, help="only the first N questions")
    run_options(ans)

    gen = esub.add_parser("generate", help="make questions from an indexed folder's documents")
    gen.add_argument("--folder", required=True, help="a watched, indexed folder (path or id)")
    gen.add_argument("-n", type=int, default=20, help="how many questions (default 20)")
    gen.add_argument(
        "--no-model", action="store_true", help="cloze questions only, no chat model calls"
    )
    gen.add_argument("--seed", type=int, default=0, help="which chunks are sampled")

    own = esub.add_parser("own", help="retrieval metrics on the generated questions")
    mode_options(own)
    run_options(own)

    tools = esub.add_parser("tools", help="tool-selection and argument accuracy")
    tools.add_argument(
        "file", help='JSONL cases: {"q", "tool": name or null, "arguments": {...}, "match": {...}}'
    )
    tools.add_argument("--model", "-m", help="model name (default: the default model)")
    tools.add_argument("--limit", "-n", type=int, help="only the first N cases")
    tools.add_argument("--json", action="store_true", help="print one JSON object")

    add_routing_parser(esub)

    runs = esub.add_parser("runs", help="evaluation history, oldest first")
    runs.add_argument("--kind", choices=["retrieval", "own", "answers"])
    runs.add_argument("--limit", type=int, default=50)
    runs.add_argument("--json", action="store_true")


def _progress() -> Any:
    tty = sys.stderr.isatty()

    def show(p: EvalProgress) -> None:
        if not tty or p.total == 0:
            return
        width = 30
        filled = int(width * p.done / p.total)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total} {p.stage:<14}"
        )
        if p.done == p.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _count_progress() -> Any:
    show = _progress()

    def count(done: int, total: int) -> None:
        show(EvalProgress(done, total, "tools"))

    return count


def _print_tools(result: dict[str, Any]) -> None:
    for row in result["cases"]:
        if not row["tool_ok"] or row["arguments_ok"] is False:
            got = row["got"]
            print(f"miss: {row['q']!r} -> {got['tool']} {json.dumps(got.get('arguments', {}))}")
    print(
        f"{result['n']} cases, model {result['model']}: tool selection "
        f"{_fmt(result['tool_accuracy'])}, arguments {_fmt(result['argument_accuracy'])}, "
        f"both {_fmt(result['both_accuracy'])}"
    )
    print(f"{'expected tool':<18}{'n':>4}{'tool ok':>9}{'args ok':>9}")
    for name, row in result["per_tool"].items():
        print(f"{name:<18}{row['n']:>4}{row['tool_ok']:>9}{row['arguments_ok']:>9}")


def _fmt(value: float | None) -> str:
    return "  —  " if value is None else f"{value:.3f}"


def _print_retrieval(result: dict[str, Any]) -> None:
    for path in result["unindexed_gold"][:10]:
        print(f"warning: gold file not in the index: {path}", file=sys.stderr)
    passages = result["with_answer"] > 0
    keys = [k for k in METRIC_KEYS if passages or not k.startswith("passage_")]
    print(
        f"{result['n']} questions ({result['with_answer']} with answers) from {result['questions']}"
    )
    print(f"{'mode':<14}" + "".join(f"{COLUMNS[k]:>7}" for k in keys) + f"{'ms/q':>9}")
    for mode, metrics in result["modes"].items():
        cells = "".join(f"{metrics[k]:>7.3f}" for k in keys)
        print(f"{mode:<14}{cells}{result['latency_ms'][mode]:>9.0f}")
    if result["run_id"] is not None:
        print(f"saved as run {result['run_id']} (see `assistant eval runs`)")


async def cmd_eval(args: argparse.Namespace) -> int:
    backend = await open_local()
    try:
        return int(await _dispatch(backend, args))
    finally:
        await backend.close()


async def _dispatch(backend: AssistantAPI, args: argparse.Namespace) -> int:
    action = args.eval_command
    if action in ("retrieval", "own"):
        common = {
            "modes": args.mode,
            "k": args.k,
            "label": args.label,
            "save": not args.no_save,
            "progress": _progress(),
        }
        if action == "retrieval":
            result = await backend.evaluation.eval_retrieval(args.file, args.root, **common)
        else:
            result = await backend.evaluation.eval_own(**common)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            _print_retrieval(result)
    elif action == "answers":
        result = await backend.evaluation.eval_answers(
            args.file,
            args.root,
            limit=args.limit,
            label=args.label,
            save=not args.no_save,
            progress=_progress(),
        )
        if args.json:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            m = result["metrics"]
            print(
                f"{result['n']} answers: faithfulness {_fmt(m['faithfulness'])}, citation "
                f"precision {_fmt(m['citation_precision'])}, contains answer "
                f"{_fmt(m['answer_contains'])}, cited in {_fmt(m['cited_share'])}, gold file "
                f"among sources {_fmt(m['gold_in_sources'])}, errors {m['errors']}"
            )
            if result["run_id"] is not None:
                print(f"saved as run {result['run_id']}")
    elif action == "tools":
        result = await backend.tools.eval_tools(
            args.file, model=args.model, limit=args.limit, progress=_count_progress()
        )
        if args.json:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            _print_tools(result)
    elif action == "routing":
        await run_routing(backend, args, _count_progress())
    elif action == "generate":
        n = await backend.evaluation.generate_questions(
            args.folder, args.n, use_model=not args.no_model, progress=_progress(), seed=args.seed
        )
        print(f"stored {n} questions; run `assistant eval own` to measure retrieval on them")
    else:
        _print_runs(await backend.evaluation.eval_runs(args.kind, args.limit), args.json)
    return 0


def _print_runs(runs: list[EvalRun], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"runs": [r.as_dict() for r in runs]}, indent=2))
        return
    if not runs:
        print("no evaluation runs yet; try `assistant eval own` or `assistant eval retrieval`")
        return
    print(
        f"{'id':>4}  {'date':<16}  {'kind':<9}  {'n':>4}  {'mode':<13}"
        f"{'R@5':>7}{'MRR':>7}{'pR@5':>7}{'faith':>7}{'cite':>7}  label"
    )
    for r in runs:
        cells = "".join(
            _fmt(r.metric(k)).rjust(7)
            for k in (
                "recall@5",
                "mrr@10",
                "passage_recall@5",
                "faithfulness",
                "citation_precision",
            )
        )
        date = r.created_at.replace("T", " ")[:16]
        print(f"{r.id:>4}  {date:<16}  {r.kind:<9}  {r.n:>4}  {r.mode or '':<13}{cells}  {r.label}")
