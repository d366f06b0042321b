"""``deepaudit serve`` and ``deepaudit hash-password``: the dashboard on a production WSGI server.

The commands are contributed to the ``deepaudit`` CLI through the ``deepaudit.commands`` entry point
group, so :mod:`audit` never imports :mod:`dashboard`. Waitress serves the app; the Flask development
server only with ``--debug``. Binding anything but loopback requires credentials (hashed, see
:mod:`deepaudit.dashboard.auth`) or an explicit ``--insecure``, which logs a warning. HTTP Basic sends the password with
every request, so credentials belong behind a TLS reverse proxy (README); ``--trusted-proxy`` makes waitress
take the client address from that proxy's ``X-Forwarded-For``, so failed logins are throttled per client.
"""
from __future__ import annotations

import argparse
import getpass
import ipaddress
import logging
import os
import sys
import threading
from typing import Any

log = logging.getLogger("deepaudit.serve")

NEEDS_AUTH = ("refusing to serve on {host}: the dashboard shows audit results and runs models, and {host} is "
              "reachable from other machines. Fix: configure credentials (--credentials FILE or "
              "$DEEPAUDIT_CREDENTIALS, lines made by `deepaudit hash-password USER`), bind 127.0.0.1, or pass "
              "--insecure if this network is trusted.")
NO_STORE = "no run store at {store}. Fix: `deepaudit run --all --store {store}` first, or pass --store DIR."
INSECURE = ("serving {host} with --insecure: no credentials are asked, so anyone on the network can read the audit "
            "results and run the models. Fix: configure credentials (`deepaudit hash-password USER`) and put a TLS "
            "reverse proxy in front, or bind 127.0.0.1.")
PROXY_HEADERS = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_server(store: str, *, host: str, base_path: str = "/", credentials: str | None = None,
                 insecure: bool = False, device: str = "cpu", debug: bool = False,
                 targets: tuple[str, ...] | list[str] = (), live_process: bool = False) -> Any:
    """The Dash app ready to serve, with auth when configured; raises ValueError on unsafe settings."""
    from pathlib import Path

    from deepaudit.dashboard.app import create_app
    from deepaudit.dashboard.auth import load_credentials, require_basic_auth

    if not (Path(store) / "runs").is_dir():
        raise FileNotFoundError(NO_STORE.format(store=store))
    users = load_credentials(credentials)
    if users is None and not insecure and not is_loopback(host):
        raise ValueError(NEEDS_AUTH.format(host=host))
    if debug and not is_loopback(host):
        raise ValueError(f"--debug serves werkzeug's interactive debugger, which bypasses authentication; "
                         f"refusing it on {host}. Fix: use --debug only with --host 127.0.0.1.")
    if users is None and not is_loopback(host):
        log.warning(INSECURE.format(host=host))
    # security headers and error handling included
    app = create_app(store, base_path=base_path, device=device, targets=targets, live_process=live_process)
    if users is not None:
        require_basic_auth(app.server, users)
    return app


def _warm(app: Any) -> None:
    """Load the latest run of each model and its model in the background, so first views are fast."""
    ctx = app._deepaudit_ctx
    if ctx.live.worker is not None:
        ctx.live.worker.start()     # its interpreter and torch load beside the server's own loading below
    for model in ctx.known_models():
        try:
            run = ctx.resolve(model)
            ctx.live.preload(run.result["model"]["spec"])
        except Exception as exc:  # a model that no longer loads is reported by the page that needs it
            log.warning("could not preload %s: %s", model, exc)


def cmd_serve(args: argparse.Namespace) -> int:
    app = build_server(args.store, host=args.host, base_path=args.base_path, credentials=args.credentials,
                       insecure=args.insecure, device=args.device, debug=args.debug, targets=args.target or (),
                       # the worker inherits a socket through pass_fds, which only POSIX systems offer
                       live_process=not args.live_in_server and os.name == "posix")
    base = app.config.url_base_pathname
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"deepaudit dashboard: http://{host}:{args.port}{base}  (store {args.store}; Ctrl+C to stop)",
          flush=True)
    import torch

    # Requests already run in parallel worker threads; one torch thread each keeps a live explanation from
    # fighting the others for the cores (measured: median 556 ms -> 68 ms on 2 busy cores).
    torch.set_num_threads(args.torch_threads)
    if not args.no_preload:
        threading.Thread(target=_warm, args=(app,), daemon=True).start()
    if args.debug:
        app.run(host=args.host, port=args.port, debug=True)
        return 0
    from waitress import serve

    proxy = {"trusted_proxy": args.trusted_proxy, "trusted_proxy_headers": PROXY_HEADERS} if args.trusted_proxy else {}
    serve(app.server, host=args.host, port=args.port, threads=args.threads, ident="deepaudit",
          max_request_body_size=1 << 20, clear_untrusted_proxy_headers=True, _quiet=True, **proxy)
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    from deepaudit.dashboard.auth import hash_password

    if ":" in args.user or not args.user.strip():
        raise ValueError(f"user name {args.user!r} must be non-empty and contain no ':'.")
    pw = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass(f"password for {args.user}: ")
    if len(pw) < 8:
        raise ValueError("the password is shorter than 8 characters. Fix: choose a longer one.")
    print(f"{args.user}:{hash_password(pw)}")
    return 0


def add_commands(sub: Any) -> None:
    """Called by :func:`deepaudit.audit.cli.build_parser` for the ``deepaudit.commands`` entry point."""
    s = sub.add_parser("serve", help="the dashboard on a WSGI server (waitress)")
    s.add_argument("--store", default="deepaudit-runs", help="run store directory (default deepaudit-runs)")
    s.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    s.add_argument("--port", type=int, default=8050)
    s.add_argument("--base-path", default="/", help="URL prefix when behind a reverse proxy, e.g. /audit/")
    s.add_argument("--credentials", metavar="FILE", help="user:hash lines (deepaudit hash-password); "
                                                         "default $DEEPAUDIT_CREDENTIALS")
    s.add_argument("--insecure", action="store_true", help="serve a non-loopback host without credentials")
    s.add_argument("--trusted-proxy", metavar="ADDR", help="address of the TLS reverse proxy in front, whose "
                                                           "X-Forwarded-For/-Proto/-Host headers are trusted")
    s.add_argument("--debug", action="store_true", help="Flask development server with reloader (never in production)")
    s.add_argument("--threads", type=int, default=16, help="waitress worker threads (default 16)")
    s.add_argument("--device", default="cpu", help="device for live explanations (default cpu)")
    s.add_argument("--target", action="append", metavar="SPEC",
                   help="allow live features to load this target spec (path/to/file.py:factory), repeatable; "
                        "bundled models and installed entry points are always allowed, a spec read from the "
                        "store never is")
    s.add_argument("--torch-threads", type=int, default=1, help="torch threads per request (default 1)")
    s.add_argument("--no-preload", action="store_true", help="do not load models in the background at start")
    s.add_argument("--live-in-server", action="store_true",
                   help="compute live explanations in the server process instead of a worker process (saves the "
                        "worker's memory, ~0.4 GB; much slower while other requests keep the server busy)")
    s.set_defaults(func=cmd_serve)
    h = sub.add_parser("hash-password", help="print a user:hash line for dashboard credentials")
    h.add_argument("user")
    h.add_argument("--stdin", action="store_true", help="read the password from stdin instead of prompting")
    h.set_defaults(func=cmd_hash_password)
