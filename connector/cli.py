"""`pi-connector`: run the web app, the worker, the Pi simulator, or all of them for a try-out."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from connector.config import ConfigError

DESCRIPTION = """\
Pi Connector bridges the async Pi API (brand extraction, image generation, campaign
rendering) and Zapier, ManyChat and Shopify. Settings come from the environment
(PI_BASE_URL, REDIS_URL, CONNECTOR_SECRET_KEY, ...; see README.md)."""

EPILOG = """\
examples:
  pi-connector dev                     everything on one machine (Redis, simulator, web, worker)
  pi-connector serve --port 8000       the web app under gunicorn (production)
  pi-connector worker                  the tracker + RQ worker threads (follow jobs, deliver)
  pi-connector pisim --port 8321       the bundled Pi simulator
  pi-connector rotate-keys             re-encrypt stored secrets under the newest key
  pi-connector jobs show <job_id>      a job's timeline and deliveries (any account)
  pi-connector deliveries failed --since 1h    failed deliveries, newest first
  pi-connector redeliver <job_id> --all-failed send a job's failed deliveries again (--json)"""


# Each command imports only what it runs: `pisim` must start without the connector's app, and
# `--help` stays quick.


def _role(name: str) -> None:
    """Name this process (and what it execs) in text log lines."""
    from connector.runtime.logs import PROCESS_ROLE_ENV

    os.environ.setdefault(PROCESS_ROLE_ENV, name)


def _serve(args: argparse.Namespace) -> int:
    """Run the web app under gunicorn, or Werkzeug's server with --dev."""
    _role("web")
    if args.dev:
        from connector import create_app

        create_app().run(host=args.host, port=args.port, threaded=True, use_reloader=False)
        return 0
    # This interpreter's gunicorn: the venv's bin/ need not be on PATH.
    server = ["-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"{args.host}:{args.port}"]
    argv = [sys.executable, *server, "wsgi:app"]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    os.execvp(argv[0], argv)  # noqa: S606 - argv is ours, no shell involved
    return 0  # not reached


def _worker(args: argparse.Namespace) -> int:
    """Run the worker process: the job tracker and RQ worker threads."""
    _role("worker")
    from connector import create_app
    from connector.worker import run_worker

    app = create_app()
    ok = run_worker(app, burst=args.burst, simple=args.simple)
    return 0 if ok or not args.burst else 1


def _pisim(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the Pi simulator."""
    from connector.pisim import main as pisim_main

    return pisim_main(extra)


def _dev(args: argparse.Namespace) -> int:
    """Run Redis (if needed), the simulator (if needed), web and worker together."""
    from connector.devstack import run_dev_stack

    return run_dev_stack(host=args.host, port=args.port)


def _rotate_keys(args: argparse.Namespace) -> int:
    """Re-encrypt every stored secret under the newest CONNECTOR_SECRET_KEY."""
    from connector import create_app
    from connector.runtime.secrets import rotate_all

    app = create_app()
    with app.app_context():
        count = rotate_all()
    print(f"re-encrypted {count} stored secret(s) under the newest key")
    return 0


def _operate(args: argparse.Namespace) -> int:
    """Run an operator command (jobs show, deliveries failed, redeliver) inside the app."""
    from connector import create_app
    from connector.web.console.commands import run

    app = create_app()
    with app.app_context():
        return run(args)


def _add_operator_commands(sub) -> None:
    jobs = sub.add_parser("jobs", help="look at jobs of every account (operators)")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    show = jobs_sub.add_parser("show", help="a job's timeline and deliveries")
    show.add_argument("job_id", help="the job id (a request id, brand_id or domain also works)")
    show.add_argument("--json", action="store_true", help="print JSON for scripts")
    show.set_defaults(func=_operate, operation="jobs_show")

    deliveries = sub.add_parser("deliveries", help="look at deliveries of every account")
    deliveries_sub = deliveries.add_subparsers(
        dest="deliveries_command", metavar="ACTION", required=True
    )
    failed = deliveries_sub.add_parser("failed", help="failed deliveries, newest first")
    failed.add_argument("--since", default="", help="only the last 30m, 1h, 2d, ...")
    failed.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    failed.add_argument("--json", action="store_true", help="print JSON for scripts")
    failed.set_defaults(func=_operate, operation="deliveries_failed")

    again = sub.add_parser("redeliver", help="send a job's delivery (or its failed ones) again")
    again.add_argument("job_id")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("delivery_id", nargs="?", help="the delivery (from `jobs show`)")
    which.add_argument("--all-failed", action="store_true", help="every failed delivery")
    again.add_argument("--json", action="store_true", help="print JSON for scripts")
    again.set_defaults(func=_operate, operation="redeliver")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser."""
    parser = argparse.ArgumentParser(
        prog="pi-connector",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="run the web app (gunicorn; --dev for Flask's server)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--workers", type=int, default=0, help="gunicorn worker processes")
    serve.add_argument("--dev", action="store_true", help="use Flask's threaded dev server")
    serve.set_defaults(func=_serve)

    worker = sub.add_parser(
        "worker", help="follow every in-flight Pi job and run queued tasks (deliveries, Shopify)"
    )
    worker.add_argument(
        "--burst",
        action="store_true",
        help="follow in-flight jobs to their end, run queued tasks, then exit",
    )
    worker.add_argument(
        "--simple", action="store_true", help="with --burst: run tasks in-process (no fork)"
    )
    worker.set_defaults(func=_worker)

    sub.add_parser(
        "pisim",
        help="run the Pi simulator (flags: see `pi-connector pisim --help`)",
        add_help=False,
    ).set_defaults(func=_pisim, passthrough=True)

    dev = sub.add_parser(
        "dev", help="try it out: Redis + Pi simulator (unless configured) + web + worker"
    )
    dev.add_argument("--host", default="127.0.0.1", help="address for the web app")
    dev.add_argument("--port", type=int, default=8000, help="port for the web app (default 8000)")
    dev.set_defaults(func=_dev)

    rotate = sub.add_parser("rotate-keys", help="re-encrypt stored secrets under the newest key")
    rotate.set_defaults(func=_rotate_keys)
    _add_operator_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["pisim"]:
        return _pisim(argparse.Namespace(), argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:  # show the reason, not a traceback
        print(f"pi-connector: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
