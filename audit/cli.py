"""The ``deepaudit`` command line.

    deepaudit describe SPEC                        load + validate any target (name, entry point, file.py:factory)
    deepaudit run SPEC... | --all [--store DIR] [--policy FILE]
                                                   audit: explanations, quality, fairness, probes -> run store
    deepaudit list [--store DIR] [--json]          runs in the store, newest first
    deepaudit report RUN_ID|latest [--model NAME] [--format html,pdf,json,model-card] [--out DIR]
                                                   audit report of a stored run (run ... --report writes them too)

Other packages add commands through ``deepaudit.commands`` entry points: the bundled models add
``models``, ``evaluate`` and ``train`` (:mod:`deepaudit.models.cli`), the dashboard ``serve`` and ``hash-password``.
This package imports neither; it reaches every model, bundled or not, through
:func:`deepaudit.audit.target.load_target`.
"""
from __future__ import annotations

import argparse
import errno
import gc
import json
import logging
import os
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger("deepaudit")

#: True in the ``deepaudit`` process itself (:func:`entry`), False when :func:`main` is called from Python.
_AS_PROCESS = False


def _freeze_imported() -> None:
    """In the ``deepaudit`` process: exempt what is loaded so far (torch, pandas, ...) from garbage collection.

    Every full collection otherwise walks those modules' hundreds of thousands of objects
    again, and so does the collection at interpreter exit (0.4 s of a 5 s ``run``). Nothing is
    leaked that would be freed: the process ends after one command. Not done when ``main`` is
    called from Python (a notebook, the tests).
    """
    if _AS_PROCESS:
        gc.freeze()


@contextmanager
def _importing() -> Iterator[None]:
    """In the ``deepaudit`` process: a command's imports, without garbage collection, then frozen.

    Importing torch, pandas and the rest creates hundreds of thousands of objects that live as
    long as the process; the collections their allocations trigger free nothing and cost 0.2 s
    of a ``run``. Collection resumes after the block, with everything imported so far frozen
    (:func:`_freeze_imported`). Not done when ``main`` is called from Python.
    """
    if not _AS_PROCESS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        _freeze_imported()
        gc.enable()


def cmd_init_target(args: argparse.Namespace) -> int:
    from deepaudit.audit.init_target import write_target

    path = write_target(args.name, args.kind, directory=args.dir, force=args.force)
    print(f"wrote {path}: fill in its TODOs, then run\n  deepaudit describe {path}:factory\n"
          f"  deepaudit run {path}:factory")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    with _importing():
        import numpy as np

        from deepaudit.audit.target import group_sizes, load_target

    target = load_target(args.spec, device=args.device)
    data = target.eval_data
    pred = target.logits().argmax(1).numpy()
    groups = group_sizes(target)
    info = {"name": target.name, "domain": target.domain, "task": target.task, "class_names": target.class_names,
            "favorable_label": target.favorable_label, "device": str(target.device), "n_eval": len(data),
            "input_shape": list(data.inputs.shape[1:]), "accuracy_on_eval": float(np.mean(pred == data.labels)),
            "sensitive_columns": target.sensitive_columns, "cohort_columns": target.cohort_columns,
            "group_sizes": groups, "weights_sha256": target.provenance.get("weights_sha256"),
            "data_sha256": target.provenance.get("data_sha256")}
    print(json.dumps(info, indent=2))
    return 0


DEFAULT_STORE = Path("deepaudit-runs")


def cmd_run(args: argparse.Namespace) -> int:
    with _importing():
        from deepaudit.audit.runner import RunConfig, run_audit
        from deepaudit.audit.store import RunStore
        from deepaudit.audit.target import list_targets

    specs = list_targets() if args.all else args.specs
    if not specs:
        raise ValueError("no model given. Fix: name one or more models or target specs, or pass --all.")
    config = RunConfig(samples=args.samples, seed=args.seed, methods=args.methods, device=args.device,
                       progress=not args.no_progress and sys.stderr.isatty(), policy=args.policy,
                       precision=args.precision, executor=args.executor, ray_address=args.ray_address,
                       ray_workers=args.ray_workers)
    store = RunStore(args.store)
    # Fail before computing: an audit can take minutes, a full disk or a typo in --store one second.
    store.check_writable()
    if args.report:
        check_out_dir(args.report_dir, "--report-dir")
    rows, failed_specs, status = [], [], 0
    for spec in specs:
        try:
            (r,) = run_audit([spec], config, store=store)
        except (ValueError, TypeError, FileNotFoundError, OSError, sqlite3.Error) as exc:
            # Every run stored so far stays stored and printed; the failed spec is named and the rest go on.
            print(f"deepaudit: error: {spec}: {_message(exc)}", file=sys.stderr)
            failed_specs.append(spec)
            continue
        failed = [c.id for c in r.failed_checks()]
        rows.append({"run_id": r.run_id, "model": r.model.name, "path": str(r.path), "checks": len(r.checks),
                     "failed": failed, "seconds": r.provenance.timings["total_s"]})
        if not args.json:
            checks = f"{len(failed)} of {len(r.checks)} checks failed: {', '.join(failed)}" if failed \
                else f"all {len(r.checks)} checks passed"
            print(f"{r.model.name:<20} {r.run_id}  {checks}  ({rows[-1]['seconds']} s)", flush=True)
        if args.report:
            # With --json, stdout stays one JSON document; report paths go to stderr.
            status |= _write_reports([r], args.report_dir, "html,pdf,json,model-card",
                                     stream=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"store: {store.root}")
    if failed_specs:
        print(f"deepaudit: {len(failed_specs)} of {len(specs)} audits failed ({', '.join(failed_specs)}); "
              f"{len(rows)} stored.", file=sys.stderr)
        return 2
    return status


def check_out_dir(out: Path, flag: str) -> None:
    """Create ``out`` if needed and prove it is a writable directory; ValueError naming the fix otherwise."""
    from deepaudit.audit.atomic import writable_dir_problem

    problem = writable_dir_problem(out)
    if problem.startswith("it is a file"):
        raise ValueError(f"{flag} {out} is a file, not a directory. Fix: pass a directory (it is created if missing).")
    if problem:
        raise ValueError(f"{flag} {out} is not writable ({problem}). Fix: pass a writable directory with free space.")


DEFAULT_REPORT_DIR = Path("deepaudit-reports")


def _write_reports(runs: list[Any], out: Path, formats: str, *, stream: Any = None, profiles: Any = ()) -> int:
    """Write reports for each run; prints paths (stdout) and any PDF problem (stderr). 1 if the PDF is missing."""
    from deepaudit.audit.report import parse_formats, write_reports

    fmts = parse_formats(formats)
    status = 0
    for run in runs:
        written = write_reports(run, out, formats=fmts, profiles=profiles)
        for p in written.paths:
            print(p, file=stream or sys.stdout)
        log.info("report for %s written in %.1f s", run.run_id, written.seconds)
        if written.pdf_error:
            print(f"deepaudit: {written.pdf_error}", file=sys.stderr)
            status = 1
    return status


def cmd_report(args: argparse.Namespace) -> int:
    from deepaudit.audit.report import parse_formats
    from deepaudit.audit.store import RunStore

    parse_formats(args.format)  # an unknown format fails before any work
    check_out_dir(args.out, "--out")
    run_id = args.run_id
    if args.model:
        if run_id not in ("latest", f"latest:{args.model}"):
            raise ValueError(f"--model {args.model!r} selects the latest run of a model; it cannot be combined with "
                             f"run id {run_id!r}. Fix: pass `latest --model {args.model}` or the run id alone.")
        run_id = f"latest:{args.model}"
    if args.profile:
        from deepaudit.audit.compliance import load_profile

        for name in args.profile:   # an unknown or invalid profile fails before any work
            load_profile(name)
    run = RunStore(args.store).load(run_id)
    return _write_reports([run], args.out, args.format, profiles=args.profile or ())


def cmd_list(args: argparse.Namespace) -> int:
    from deepaudit.audit.store import RunStore

    runs = RunStore(args.store).list_runs(model=args.model, status=args.status)
    if args.json:
        print(runs.to_json(orient="records", indent=2))
        return 0
    if runs.empty:
        print(f"no runs in {args.store}. Run `deepaudit run --all --store {args.store}` to make some.")
        return 0
    print(f"{'created (UTC)':<26} {'model':<20} {'status':<6} {'failed':>6}  run_id")
    for r in runs.itertuples():
        print(f"{r.created_at:<26} {r.model:<20} {r.status:<6} {r.n_failed:>3}/{r.n_checks:<3} {r.run_id}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from deepaudit.audit.store import RunStore

    if bool(args.run_ids) == bool(args.all):
        raise ValueError("name the runs to verify, or pass --all (every run, and the chain whole). "
                         "Fix: deepaudit verify RUN_ID [RUN_ID ...] or deepaudit verify --all.")
    store = RunStore(args.store)
    ids = None if args.all else [store.load(r).run_id if r.startswith("latest") else r for r in args.run_ids]
    v = store.verify(ids, public_key=args.public_key)
    if args.json:
        print(json.dumps(v.to_dict(), indent=2))
    else:
        for rid in v.checked:
            problems = [f for f in v.findings if f.run_id == rid]
            sig = v.signatures.get(rid, {})
            signed = {"unsigned": "unsigned", "valid": f"signed by key {sig.get('key_fingerprint')}"
                      + ("" if sig.get("trusted") else " (not checked against a trusted key)"),
                      "invalid": "signature INVALID"}.get(sig.get("status"), "")
            print(f"{'OK      ' if not problems else 'CHANGED '} {rid}" + (f"  [{signed}]" if signed else "")
                  + (f"  (sealed later, {v.sealed[rid][:10]})" if rid in v.sealed else ""))
            for f in problems:
                print(f"    {f.problem}: {f.detail}")
        for f in v.findings:
            if f.run_id not in v.checked:
                print(f"CHAIN    {f.line()}")
        print(f"{len(v.checked)} run(s) checked against a chain of {v.chain_length} entries: "
              + ("no change found." if v.ok else f"{len(v.findings)} problem(s)."))
    return 0 if v.ok else 1


def cmd_seal(args: argparse.Namespace) -> int:
    from deepaudit.audit.store import RunStore

    if bool(args.run_ids) == bool(args.all):
        raise ValueError("name the runs to seal, or pass --all (every run written before manifests). "
                         "Fix: deepaudit seal RUN_ID ... or deepaudit seal --all.")
    entries = RunStore(args.store).seal(None if args.all else args.run_ids, adopt=args.adopt)
    for e in entries:
        print(f"sealed {e['run_id']}: manifest {e['entry_hash'][:16]}..., chain entry {e['seq']} ({e['recorded_at']})")
    print(f"{len(entries)} run(s) sealed." if entries else "nothing to seal: every run is in the chain.")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from deepaudit.audit.integrity import sign_run
    from deepaudit.audit.store import RunStore

    run = RunStore(args.store).load(args.run_id)
    doc = sign_run(Path(run.path), args.key, signer=args.signer or "")
    print(f"signed {run.run_id}: manifest {doc['manifest_hash'][:16]}..., key {doc['key_fingerprint']}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from deepaudit.audit.integrity import fingerprint, generate_keypair

    if args.out.exists() and not args.force:
        raise ValueError(f"{args.out} exists; nothing was written. Fix: choose another path, or pass --force.")
    key, pub = generate_keypair(args.out)
    print(f"private key {key} (keep it secret), public key {pub} (give it to verifiers); "
          f"fingerprint {fingerprint(pub.read_text())}")
    return 0


def cmd_signoff(args: argparse.Namespace) -> int:
    from deepaudit.audit.store import RunStore

    entry = RunStore(args.store).signoff(args.run_id, reviewer=args.reviewer, decision=args.decision,
                                         conditions=args.conditions or "", comment=args.comment or "")
    print(f"recorded: {entry['payload']['decision']} by {entry['payload']['reviewer']} on {entry['run_id']} "
          f"(chain entry {entry['seq']}, {entry['recorded_at']})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepaudit",
                                description="Explainability and fairness audits of deep PyTorch models.")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--cpu-threads", dest="cpu_threads", type=int, default=None, metavar="N",
                   help="torch CPU threads (default: the CPUs this process may use, from its affinity and cgroup "
                        "quota; env DEEPAUDIT_THREADS; DEEPAUDIT_THREAD_POLICY=off keeps torch's defaults)")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("describe", help="load and validate any audit target; print a summary as JSON")
    d.add_argument("spec", help="bundled model name, deepaudit.targets entry point, or path/to/file.py:factory")
    d.add_argument("--device", default="auto")
    d.set_defaults(func=cmd_describe)

    it = sub.add_parser("init-target", help="write a commented target file for your own model, to fill in")
    it.add_argument("name", help="the target's name (a Python identifier); writes NAME.py")
    it.add_argument("--kind", required=True, choices=["tabular", "text", "image", "huggingface"],
                    help="tabular rows with feature names, text with a tokenizer, or images (N, C, H, W)")
    it.add_argument("--dir", type=Path, default=Path("."), help="where to write it (default: here)")
    it.add_argument("--force", action="store_true", help="overwrite an existing NAME.py")
    it.set_defaults(func=cmd_init_target)

    r = sub.add_parser("run", help="audit models: explanations, quality checks, shortcut probes -> run store")
    r.add_argument("specs", nargs="*", help="bundled model names, entry points, or path/to/file.py:factory")
    r.add_argument("--all", action="store_true",
                   help="every installed target: the bundled models and any deepaudit.targets entry point")
    r.add_argument("--store", type=Path, default=DEFAULT_STORE, help=f"run store directory (default ./{DEFAULT_STORE})")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    r.add_argument("--samples", type=int, default=None,
                   help="samples to explain per model, a stratified sample (default: 100 images, 40 texts; tabular: "
                        "every row up to 5,000, else a sample sized by --precision)")
    r.add_argument("--precision", type=float, default=0.05,
                   help="tabular default sample: every feature's mean |attribution| within this share of the top "
                        "feature's, 95%% interval (default 0.05; 5,000 to 20,000 rows)")
    r.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where prediction and explanation batches run (default local; ray: a Ray cluster)")
    r.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --executor ray: a running cluster (`ray start --head` prints it; 'auto' finds "
                        "one on this node); default: start a local one for the run")
    r.add_argument("--ray-workers", type=int, default=None, metavar="N",
                   help="with --executor ray: model replicas, one CPU each (default: every CPU of the cluster)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                   help="explanation methods (default per data kind; see README)")
    r.add_argument("--policy", type=Path, default=None,
                   help="TOML policy file with fairness thresholds (default: audit/fairness/default_policy.toml)")
    r.add_argument("--json", action="store_true", help="print run ids and paths as JSON")
    r.add_argument("--no-progress", action="store_true",
                   help="no progress bars on stderr (also off when stderr is not a terminal)")
    r.add_argument("--report", action="store_true", help="write HTML, PDF, JSON and model-card reports after each run")
    r.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR,
                   help=f"where --report writes (default ./{DEFAULT_REPORT_DIR})")
    r.set_defaults(func=cmd_run)

    rp = sub.add_parser("report", help="HTML / PDF / JSON / model-card report of a stored run")
    rp.add_argument("run_id", help="a run id, latest, or latest:<model>")
    rp.add_argument("--store", type=Path, default=DEFAULT_STORE)
    rp.add_argument("--model", default=None, help="with `latest`: the latest run of this model")
    rp.add_argument("--format", default="html,pdf,json,model-card",
                    help="comma-separated: html, pdf, json, model-card (default: all)")
    rp.add_argument("--out", type=Path, default=DEFAULT_REPORT_DIR,
                    help=f"output directory (default ./{DEFAULT_REPORT_DIR})")
    rp.add_argument("--profile", action="append", default=None, metavar="NAME|FILE",
                    help="add a compliance checklist: ll144, eu-ai-act, sr11-7, reg-b, or a profile file (repeatable)")
    rp.set_defaults(func=cmd_report)

    ls = sub.add_parser("list", help="runs in the store, newest first")
    ls.add_argument("--store", type=Path, default=DEFAULT_STORE)
    ls.add_argument("--model", default=None)
    ls.add_argument("--status", choices=["pass", "fail"], default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    vf = sub.add_parser("verify", help="recompute run hashes, the store's hash chain and signatures; report changes")
    vf.add_argument("run_ids", nargs="*", help="run ids (or latest / latest:<model>); or --all")
    vf.add_argument("--all", action="store_true", help="every run on disk or in the chain (finds deleted runs)")
    vf.add_argument("--store", type=Path, default=DEFAULT_STORE)
    vf.add_argument("--public-key", type=Path, default=None, help="the signer's public key (PEM) to trust")
    vf.add_argument("--json", action="store_true")
    vf.set_defaults(func=cmd_verify)

    se = sub.add_parser("seal", help="give runs written before manifests a manifest and a chain entry (sealed later)")
    se.add_argument("run_ids", nargs="*")
    se.add_argument("--all", action="store_true", help="every run that has no manifest")
    se.add_argument("--adopt", action="store_true", help="also seal runs that have a manifest but no chain entry")
    se.add_argument("--store", type=Path, default=DEFAULT_STORE)
    se.set_defaults(func=cmd_seal)

    sg = sub.add_parser("sign", help="sign a run's manifest with an Ed25519 private key")
    sg.add_argument("run_id")
    sg.add_argument("--key", type=Path, required=True, help="Ed25519 private key, PEM (deepaudit keygen)")
    sg.add_argument("--signer", default="", help="who signs (recorded beside the signature)")
    sg.add_argument("--store", type=Path, default=DEFAULT_STORE)
    sg.set_defaults(func=cmd_sign)

    kg = sub.add_parser("keygen", help="create an Ed25519 key pair for signing runs (FILE and FILE.pub)")
    kg.add_argument("--out", type=Path, required=True)
    kg.add_argument("--force", action="store_true")
    kg.set_defaults(func=cmd_keygen)

    so = sub.add_parser("signoff", help="record a reviewer's decision against a run (append-only, hash-chained)")
    so.add_argument("run_id")
    so.add_argument("--reviewer", required=True)
    so.add_argument("--decision", required=True, choices=["accepted", "accepted_with_conditions", "rejected"])
    so.add_argument("--conditions", default="", help="required with accepted_with_conditions")
    so.add_argument("--comment", default="")
    so.add_argument("--store", type=Path, default=DEFAULT_STORE)
    so.set_defaults(func=cmd_signoff)
    _plugin_commands(sub)
    return p


def _plugin_commands(sub: Any) -> None:
    """Subcommands other packages contribute (``deepaudit.commands`` entry points: ``f(subparsers)``).

    The dashboard adds ``serve`` and ``hash-password`` and the bundled models ``models``, ``evaluate`` and
    ``train`` this way, so this package imports neither.
    """
    from importlib.metadata import entry_points

    for ep in entry_points(group="deepaudit.commands"):
        try:
            ep.load()(sub)
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            log.warning("could not load deepaudit command plugin %s: %s", ep.name, exc)


OS_FIXES = {errno.ENOSPC: "free disk space (or pass a path on another disk)",
            errno.EROFS: "pass a path on a writable file system",
            errno.EACCES: "check permissions, or pass a path you can write",
            errno.EPERM: "check permissions, or pass a path you can write",
            errno.ENOTDIR: "a part of that path is a file, not a directory: pass another path",
            errno.EEXIST: "that path exists and is a file: pass a directory",
            errno.ENOENT: "check the path exists"}


def _message(exc: BaseException) -> str:
    """One line for the user: OS errors name the path and a fix; others are already written as messages."""
    if isinstance(exc, OSError) and exc.errno is not None:
        fix = OS_FIXES.get(exc.errno or 0, "check the path, its permissions and free disk space")
        path = exc.filename if exc.filename is not None else "a file"
        return f"cannot use {path}: {exc.strerror or exc}. Fix: {fix}."
    if isinstance(exc, sqlite3.Error):
        return (f"the run store's index could not be read or written ({exc}). Fix: check the --store directory "
                "is writable; a damaged index.sqlite can be moved aside (its run list is rebuilt from the run "
                "directories; its hash chain is not, so `deepaudit verify` then reports those runs as unchained).")
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    from deepaudit.audit.errors import IndexLockedError
    from deepaudit.audit.threads import apply_thread_policy

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        # Before any command imports torch: threads sized to this process's CPUs, idle threads sleep.
        apply_thread_policy(args.cpu_threads)
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (`deepaudit list | head -1`): nothing to report. Point stdout at /dev/null
        # so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (ValueError, TypeError, FileNotFoundError, OSError, sqlite3.Error, IndexLockedError) as exc:
        print(f"deepaudit: error: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepaudit: interrupted. Runs and reports are written atomically: nothing partial is left, and "
              "whatever completed before is kept.", file=sys.stderr)
        return 130


def entry() -> None:
    """The ``deepaudit`` console script: :func:`main`, then exit without the final sweep of every object."""
    global _AS_PROCESS
    _AS_PROCESS = True
    rc = main()
    _freeze_imported()
    # Everything a command writes is closed and synced before it returns (runs are renamed into place,
    # reports written atomically, index connections closed), so what is left at exit is tearing down
    # torch's and pandas' modules: 0.15-0.4 s of nothing. Flush what is buffered and end the process.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`deepaudit list | head`) or a closed stream
            pass
    os._exit(rc if isinstance(rc, int) else 1)


if __name__ == "__main__":
    entry()
