"""The operator commands of `pi-connector`: the console's data as tables, or JSON for scripts."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from connector.delivery.delivery_log import get_delivery_log, public_view
from connector.delivery.dispatch import Redelivery, redeliver
from connector.jobs import lookup
from connector.ledger import get_ledger
from connector.web.console.pages import parse_since

NOT_FOUND = 1


def run(args: argparse.Namespace) -> int:
    """Run one operator command inside an app context; return the exit status."""
    commands = {
        "jobs_show": jobs_show,
        "deliveries_failed": deliveries_failed,
        "redeliver": redeliver_command,
    }
    return commands[args.operation](args)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n" if args.json else text)


def table(rows: list[list[Any]], header: list[str]) -> str:
    """Return rows as a plain text table, columns padded to their widest cell."""
    cells = [header] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _find_one(text: str):
    ledger = get_ledger()
    found = lookup.records(ledger, lookup.find_jobs(ledger, text))
    return found[0] if len(found) == 1 else None


def jobs_show(args: argparse.Namespace) -> int:
    """Print a job's timeline and its deliveries."""
    record = _find_one(args.job_id)
    if record is None:
        print(f"no single job matches {args.job_id!r}", file=sys.stderr)
        return NOT_FOUND
    events, deliveries = lookup.timeline(get_ledger(), get_delivery_log(), record)
    data = {
        "job": {**record.view(), "account_id": record.account_id, "origin": record.origin},
        "timeline": [{"at": e.when, "what": e.what, "text": e.text} for e in events],
        "deliveries": [public_view(d) for d in deliveries],
    }
    text = (
        f"job {record.job_id}  {record.kind}  {record.status}  account {record.account_id}\n\n"
        + table([[e.when, e.what, e.text] for e in events], ["at", "event", "what"])
        + "\n"
        + table(
            [
                [d["delivery_id"], d["kind"], d["host"], d["state"], d["attempts"]]
                for d in data["deliveries"]
            ],
            ["delivery_id", "kind", "host", "state", "attempts"],
        )
    )
    _emit(args, data, text)
    return 0


def deliveries_failed(args: argparse.Namespace) -> int:
    """Print failed deliveries of every account, newest first."""
    since = parse_since(args.since)
    items = get_delivery_log().failed(max(args.limit, 1), since)
    views = [public_view(d) | {"account_id": d["account_id"]} for d in items]
    rows = [
        [v["updated_at"], v["job_id"], v["delivery_id"], v["kind"], v["host"], _answer(v)]
        for v in views
    ]
    header = ["when", "job_id", "delivery_id", "kind", "host", "answer"]
    _emit(args, {"deliveries": views}, table(rows, header))
    return 0


def _answer(view: dict[str, Any]) -> str:
    return str(view.get("status") or view.get("error") or "")


def redeliver_command(args: argparse.Namespace) -> int:
    """Queue a fresh attempt of one delivery, or of every failed delivery of a job."""
    record = _find_one(args.job_id)
    if record is None:
        print(f"no single job matches {args.job_id!r}", file=sys.stderr)
        return NOT_FOUND
    if args.all_failed:
        items = get_delivery_log().deliveries(record.account_id, record.job_id)
        ids = [d["delivery_id"] for d in items if d["state"] == "failed"]
    else:
        ids = [args.delivery_id]
    results = {did: redeliver(record.account_id, record.job_id, did).value for did in ids}
    rows = [[did, result] for did, result in results.items()]
    _emit(
        args,
        {"job_id": record.job_id, "results": results},
        table(rows, ["delivery_id", "result"]) if rows else "no failed deliveries\n",
    )
    unknown = any(r == Redelivery.UNKNOWN.value for r in results.values())
    return NOT_FOUND if unknown else 0
