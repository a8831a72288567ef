"""The ``fcjax`` command: ``list``, ``check CLAIM`` and ``reproduce PAPER|all``.

With ``--out DIR`` every finished chunk of trials is kept under ``DIR/store`` and the same command resumes after a
kill (``--fresh`` deletes what is stored for each configuration it runs, then stores anew). On several hosts every
process runs the same command with ``--coordinator``, ``--num-processes`` and ``--process-id``
(``jax.distributed``); process 0 writes the files.

``--plugin FILE.py|MODULE`` (repeatable) adds claims of one's own (see :mod:`proofs_check.api`); installed packages
add theirs through the ``fcjax.claims`` entry-point group. ``fcjax check CLAIM --help`` prints the claim's statement,
source and settings with their full and quick values.

Exit codes: ``check`` 0 when the verdict passes, 1 when it fails, 3 when it is undecided; ``reproduce`` 0 once the
report is written (a refuted claim is a finding, shown in the report), or with ``--strict`` 1 when any verdict fails
(else 3 when any is undecided); 2 bad usage; 4 a claim raised an exception (its traceback is printed); 5 a
jax.distributed run stopped before its end: a peer or the coordinator was lost, or the process got SIGTERM (each
process runs its work in a child, so that jax.distributed's abort becomes one line saying how to resume).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from fcjax._validate import first_line
from fcjax.decide import combine
from fcjax.stats import Verdict

from .compile_level import xla_flags
from .registry import all_claims, get_claim, load_plugin, papers


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from err


def _setting(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = _ints(raw) if raw.replace(",", "").lstrip("-").isdigit() and "," in raw else raw
    if isinstance(value, list):
        value = tuple(value)
    return key.strip(), value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fcjax", description="Numerically verify theories of adversarial fragility.")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list the registered claims")
    c = sub.add_parser("check", help="run one claim and print its verdict (CLAIM --help: the claim's settings)")
    c.add_argument("claim", help="claim id, e.g. gao2024.min_distance")
    r = sub.add_parser("reproduce", help="run every claim of a paper and write a report")
    r.add_argument("paper", nargs="?", default="gao2024", help="a paper id (see `fcjax list`) or 'all'")
    for q in (ls, c, r):
        q.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                       help="load claims of one's own from a file or an importable module (repeatable)")
    r.add_argument("--out", required=True, help="directory for results.json, report.md, figures/")
    r.add_argument("--strict", action="store_true", help="exit 1 when any verdict fails")
    r.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run the claims in N worker processes, one claim module per task (default 1; the numbers "
                        "do not depend on N)")
    for q in (c, r):
        q.add_argument("--quick", action="store_true", help="the quick form (seconds on 2 CPU cores)")
        q.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
        q.add_argument("--json", action="store_true", help="print JSON instead of a table")
        q.add_argument("--quiet", action="store_true", help="no progress bars")
        q.add_argument("--max-memory", type=int, metavar="MB",
                       help="working-set budget per compiled call (MiB; default: a quarter of the free device memory)")
        q.add_argument("--fresh", action="store_true",
                       help="delete the results stored under --out for what this runs, and recompute")
        q.add_argument("--coordinator", metavar="HOST:PORT", help="jax.distributed coordinator (several hosts)")
        q.add_argument("--num-processes", type=int, metavar="N", help="jax.distributed: number of processes")
        q.add_argument("--process-id", type=int, metavar="I", help="jax.distributed: this process's index")
        q.add_argument("--peer-timeout", type=int, default=100, metavar="S",
                       help="jax.distributed: seconds a process waits for a peer that does not answer, at start or "
                            "during the run, before it stops (default 100)")
    c.add_argument("--d", type=_ints, help="comma-separated dimensions, e.g. 64,128,256")
    c.add_argument("--trials", type=int, help="trials per dimension")
    c.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                   help="override any setting of the claim's config, e.g. --set widths=[3000]")
    c.add_argument("--out", help="also write results.json, report.md and the figure here")
    return p


def _summary(v: Verdict) -> str:
    ci = "" if v.ci_low != v.ci_low else f" [{v.ci_low:.4g}, {v.ci_high:.4g}]"
    lines = [f"{v.outcome.upper()}  {v.claim}  {v.statistic_name} = {v.statistic:.4g}{ci}  "
             f"(expected {v.expected}; seed {v.seed}, {v.seconds:.1f} s, {v.device}"
             f"{'; read back from the store' if v.stored else ''})"]
    marks = {"pass": "ok", "fail": "FAIL", "undecided": "undecided"}
    for c in v.checks:
        lines.append(f"    [{marks[c.outcome]}] {c.name}: {c.detail}")
        if c.resolution:
            lines.append(f"        to decide: {c.resolution}")
    return "\n".join(lines)


def claim_help(claim_id: str) -> str:
    """``fcjax check CLAIM --help``: the statement, source and every setting with its type, full and quick value."""
    cl = get_claim(claim_id)
    quick = cl.configure(True)
    lines = [f"fcjax check {cl.id} [--quick] [--seed N] [--d D1,D2,...] [--trials N] [--set KEY=VALUE ...] "
             "[--out DIR] [--json]", "", cl.statement, "", f"paper:  {cl.paper}", f"source: {cl.source}",
             f"module: {cl.module}", "", "settings (--set KEY=VALUE; --d sets ds, --trials sets trials):",
             f"  {'name':22s} {'type':22s} {'full':>24s}  quick"]
    for f in dataclasses.fields(cl.config):
        if not f.repr:
            continue
        full, q = getattr(cl.config, f.name), getattr(quick, f.name)
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        lines.append(f"  {f.name:22s} {kind:22s} {_show(full):>24s}  {_show(q)}{'' if q == full else '  (quick)'}")
    return "\n".join(lines)


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (tuple, list, dict)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _wants_claim_help(argv: list[str]) -> str | None:
    """The claim of ``check CLAIM ... --help`` (argparse would print the generic help instead)."""
    if not argv or argv[0] != "check" or not {"-h", "--help"} & set(argv):
        return None
    rest = [a for i, a in enumerate(argv[1:], 1) if not a.startswith("-") and argv[i - 1] != "--plugin"]
    return rest[0] if rest else None


def _writer() -> bool:
    import jax

    return jax.process_index() == 0


def _distributed_usage(args: argparse.Namespace) -> bool:
    """Whether this is a jax.distributed run; its options are checked (ValueError names the bad one)."""
    given = [a is not None for a in (args.coordinator, args.num_processes, args.process_id)]
    if any(given) and not all(given):
        raise ValueError("--coordinator, --num-processes and --process-id go together")
    if not all(given):
        return False
    if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
        raise ValueError(f"--process-id must be in [0, --num-processes), got {args.process_id} of "
                         f"{args.num_processes}")
    if args.peer_timeout < 1:
        raise ValueError(f"--peer-timeout must be >= 1 (seconds), got {args.peer_timeout}")
    return True


def _distributed(args: argparse.Namespace) -> None:
    if not _distributed_usage(args):
        return
    import jax

    # The collectives' runtime (gloo on CPU) prints connection lines on the C-level stdout: send them to
    # stderr, so that what fcjax prints (--json) stays valid JSON on every process.
    sys.stdout.flush()
    real_stdout = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = real_stdout
    try:
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id, initialization_timeout=args.peer_timeout,
                                   heartbeat_timeout_seconds=args.peer_timeout)
    except Exception as err:  # a peer or the coordinator did not come up in time: not a bug of the claim
        print(f"fcjax: error: process {args.process_id} of {args.num_processes} could not join the coordinator "
              f"{args.coordinator} within --peer-timeout {args.peer_timeout} s ({type(err).__name__}: "
              f"{first_line(err)}); start the same command on every host",
              file=sys.stderr)
        sys.exit(PEER_LOST)


WORKER_ENV = "FCJAX_DISTRIBUTED_WORKER"


def _peer_lost(args: argparse.Namespace, what: str) -> str:
    kept = (f"the groups finished so far are kept in {args.out}/store; rerun the same command on every host to "
            f"resume" if args.out else "nothing was stored (no --out); rerun with --out DIR to make a run resumable")
    return f"fcjax: error: process {args.process_id} of {args.num_processes} {what}; {kept}"


# What a collective's error says when its peer went away (gloo on CPU, the coordination service, NCCL/GRPC timeouts);
# only consulted in a run of several processes. It comes as JaxRuntimeError or as ValueError, depending on where.
_LOST = ("gloo", "connection closed", "connection reset", "connection refused", "broken pipe", "unavailable:",
         "deadline_exceeded", "coordination service", "heartbeat")


def _lost_peer(err: Exception, args: argparse.Namespace) -> bool:
    """Whether a claim's exception is a collective that failed because a peer went away (not the claim's bug)."""
    return (getattr(args, "num_processes", None) or 1) > 1 and any(word in str(err).lower() for word in _LOST)


def _supervise(argv: list[str], args: argparse.Namespace) -> int:
    """Run this command in a child process and explain how it ended if it was stopped.

    jax.distributed ends a process whose peer stops answering (or whose coordinator is gone) with an abort from C++
    (SIGABRT and a stack trace), which no Python code in that process can catch: the parent turns it into one clear
    line saying that the finished groups are kept and how to resume.
    """
    import signal
    import subprocess

    env = {**os.environ, WORKER_ENV: "1"}
    child = subprocess.Popen([sys.executable, "-m", "proofs_check.cli", *argv], env=env)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the child (same process group)
    stopped = []

    def stop(*_):  # a scheduler's stop: jax.distributed takes SIGTERM as a preemption notice and goes on, so the
        stopped.append(True)  # worker is killed (its records are written atomically: the rerun resumes)
        child.kill()

    previous_term = signal.signal(signal.SIGTERM, stop)
    try:
        rc = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    if stopped:
        print(_peer_lost(args, "was stopped by SIGTERM"), file=sys.stderr)
        return PEER_LOST
    if rc >= 0:
        return rc  # PEER_LOST included: the worker said why in one line
    try:
        name = signal.Signals(-rc).name
    except ValueError:
        name = f"signal {-rc}"
    why = ("a peer process or the coordinator stopped (or did not answer within --peer-timeout s), and "
           "jax.distributed aborted this one" if -rc == signal.SIGABRT else "it was stopped from outside")
    print(_peer_lost(args, f"ended by {name}: {why}"), file=sys.stderr)
    return PEER_LOST


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fcjax`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    helped = _wants_claim_help(argv)
    if helped is not None:
        try:
            for i, a in enumerate(argv[:-1]):
                if a == "--plugin":
                    load_plugin(argv[i + 1])
            print(claim_help(helped))
        except (ValueError, TypeError) as err:
            print(f"fcjax: error: {err}", file=sys.stderr)
            return 2
        return 0
    args = _parser().parse_args(argv)
    jobs_error = _jobs_error(args)
    if jobs_error:
        print(f"fcjax: error: {jobs_error}", file=sys.stderr)
        return 2
    if getattr(args, "coordinator", None) is not None and os.environ.get(WORKER_ENV) != "1":
        try:
            _distributed_usage(args)
        except ValueError as err:
            print(f"fcjax: error: {err}", file=sys.stderr)
            return 2
        return _supervise(argv, args)
    from . import report
    from .runner import run_claim
    from .store import Store

    try:  # usage: everything is validated before any claim runs
        for plugin in args.plugin:
            _load(plugin)
        if args.command == "list":
            for cl in all_claims():
                print(f"{cl.id:38s} {cl.statement}")
            return 0
        _distributed(args)
        args.out = _out_dir(args.out, args.fresh, _writer())
        if not 0 <= args.seed < 2**63:
            raise ValueError(f"--seed must be in [0, 2^63), got {args.seed}")
        if args.max_memory is not None and args.max_memory < 1:
            raise ValueError(f"--max-memory must be >= 1 (MiB), got {args.max_memory}")
        budget = {} if args.max_memory is None else {"max_memory_mb": args.max_memory}
        if args.command == "check":
            overrides = dict(args.set)
            if args.d is not None:
                overrides["ds"] = args.d
            if args.trials is not None:
                overrides["trials"] = args.trials
            jobs = [(args.claim, {**overrides, **budget})]
            header = f"# fcjax check {args.claim}"
        else:
            chosen = papers() if args.paper == "all" else [args.paper]
            jobs = [(cl.id, budget) for paper in chosen for cl in all_claims(paper)]
            header = f"# fcjax reproduce {args.paper}{' --quick' if args.quick else ''}"
        for claim_id, overrides in jobs:
            get_claim(claim_id).configure(args.quick, overrides)
        store = None if args.out is None else Store(args.out / "store", fresh=args.fresh, write=_writer())
    except (ValueError, TypeError) as err:
        print(f"fcjax: error: {err}", file=sys.stderr)
        return 2
    out, verdicts = args.out, []
    if args.command == "reproduce" and args.jobs > 1:
        from .pool import ClaimRaised, run_parallel

        def done(v: Verdict) -> None:
            if not (args.json or args.quiet):
                print(_summary(v), flush=True)

        try:
            verdicts = run_parallel(jobs, workers=args.jobs, quick=args.quick, seed=args.seed,
                                    store_root=None if out is None else out / "store", fresh=args.fresh,
                                    plugins=args.plugin, done=done)
        except ClaimRaised as err:
            print(err.trace, file=sys.stderr, end="")
            print(f"fcjax: error: claim {err.claim} raised an exception (traceback above)", file=sys.stderr)
            return RAISED
        jobs = []
    for claim_id, overrides in jobs:
        try:
            verdicts.append(run_claim(claim_id, quick=args.quick, overrides=overrides, seed=args.seed,
                                      progress=not (args.quiet or args.json), store=store))
        except Exception as err:  # the claim's own code raised: a failure of the claim, not bad usage
            if _lost_peer(err, args):
                cause = first_line(err, 200)
                print(_peer_lost(args, f"lost a peer: a collective failed ({cause})"), file=sys.stderr, flush=True)
                sys.stdout.flush()
                os._exit(PEER_LOST)  # not sys.exit: jax.distributed's shutdown barrier would abort without the peer
            traceback.print_exc()
            print(f"fcjax: error: claim {claim_id} raised an exception (traceback above)", file=sys.stderr)
            return RAISED
        if args.command == "reproduce" and not args.json and not args.quiet:
            print(_summary(verdicts[-1]), flush=True)
    if out is not None and _writer():
        paths = report.write_report(out, verdicts, header)
        if not args.json:
            print(f"{report.counts(verdicts)}; wrote {paths['report']} and {paths['results']}", file=sys.stderr)
    if args.json:
        print(verdicts[0].to_json() if args.command == "check" else
              json.dumps([v.to_dict() for v in verdicts], allow_nan=False))
    elif args.command == "check":
        print(_summary(verdicts[0]))
    if args.command == "reproduce" and not args.strict:
        return 0
    return exit_code(verdicts)


EXIT = {"pass": 0, "fail": 1, "undecided": 3}
RAISED = 4
PEER_LOST = 5  # a jax.distributed run stopped before its end (a peer or the coordinator lost, or SIGTERM): rerun


def _jobs_error(args: argparse.Namespace) -> str:
    jobs = getattr(args, "jobs", 1)
    if jobs < 1:
        return f"--jobs must be >= 1, got {jobs}"
    if jobs > 1 and args.coordinator is not None:
        return "--jobs > 1 runs worker processes on this host; it cannot be combined with --coordinator"
    return ""


def _out_dir(out: str | None, fresh: bool, writer: bool) -> Path | None:
    """``--out`` as a directory this process can write (created if missing), checked before anything runs."""
    if out is None:
        if fresh:
            raise ValueError("--fresh needs --out DIR: without a store there is nothing to recompute afresh")
        return None
    if not out.strip():
        raise ValueError("--out must name a directory, got an empty string")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    if writer:
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as err:
            raise ValueError(f"--out {out}: cannot write there ({err.strerror or err})") from None
    return path


def _load(plugin: str) -> None:
    try:
        load_plugin(plugin)
    except (ValueError, TypeError):
        raise
    except Exception as err:  # the plugin's own code failed to import
        traceback.print_exc()
        raise ValueError(f"--plugin {plugin}: loading it raised {type(err).__name__}: {err} (traceback above)") from err


def exit_code(verdicts: list[Verdict]) -> int:
    """1 if any verdict fails, else 3 if any is undecided, else 0."""
    return EXIT[combine(v.outcome for v in verdicts)]


def console() -> int:
    """The ``fcjax`` console script: :func:`main` in a process whose XLA:CPU compiles at
    :data:`~proofs_check.compile_level.CPU_LEVEL` (set before any backend starts, so spawned ``--jobs`` workers and
    distributed children inherit it; ``XLA_FLAGS`` naming a level, or an accelerator plugin, leaves it alone)."""
    flags = xla_flags(os.environ)
    if flags is not None:
        os.environ["XLA_FLAGS"] = flags
    return main()


if __name__ == "__main__":
    sys.exit(console())
