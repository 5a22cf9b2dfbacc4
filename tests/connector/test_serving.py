"""The shipped gunicorn configuration: a worker class that holds many waiting requests, metrics
shared across workers, and a real gunicorn answering many concurrent ManyChat waits."""

from __future__ import annotations

import os
import runpy
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from gunicorn.config import Config

from tests.support.constants import TEST_SECRET_KEY
from tests.support.procs import REPO_ROOT, ServerProcess, free_port, python_argv

CONF = REPO_ROOT / "gunicorn.conf.py"
MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"
OWNED = "PIC_GUNICORN_METRICS_DIR"
KEY = "pi_test_serving_account"
EXTRACT = "/manychat/v1/brands/extract"
CREATE_ROUTE = "POST /api/v1/brands/extract"


def load_conf(monkeypatch, **env: str) -> dict:
    """Execute gunicorn.conf.py as gunicorn does, with the given environment (restored after)."""
    for name in (
        "WEB_CONCURRENCY",
        "GUNICORN_BIND",
        "GUNICORN_WORKER_CONNECTIONS",
        MULTIPROC,
        OWNED,
    ):
        # setenv first so monkeypatch remembers the original state: the file sets some itself.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def gunicorn_config(namespace: dict) -> Config:
    """Return gunicorn's own view of the settings the file defines."""
    cfg = Config()
    for name, value in namespace.items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg


def test_the_worker_class_holds_many_waiting_requests(monkeypatch):
    ns = load_conf(monkeypatch)
    cfg = gunicorn_config(ns)
    try:
        assert cfg.worker_class_str == "gevent"
        assert cfg.worker_class.__name__ == "GeventWorker"  # gevent is installed and loads
        assert cfg.worker_connections >= 500
        assert cfg.workers == (os.cpu_count() or 1)
        assert cfg.timeout > 25  # above Zapier's budget
        assert cfg.accesslog is None  # the app logs requests itself, without secrets
        assert cfg.bind == ["127.0.0.1:8000"]
    finally:
        ns["on_exit"](None)


def test_environment_overrides(monkeypatch):
    ns = load_conf(
        monkeypatch,
        WEB_CONCURRENCY="3",
        GUNICORN_BIND="0.0.0.0:9000",
        GUNICORN_WORKER_CONNECTIONS="2000",
    )
    cfg = gunicorn_config(ns)
    try:
        assert (cfg.workers, cfg.bind, cfg.worker_connections) == (3, ["0.0.0.0:9000"], 2000)
    finally:
        ns["on_exit"](None)


def test_a_fresh_metrics_directory_is_made_cleared_and_removed(monkeypatch):
    ns = load_conf(monkeypatch)
    made = Path(os.environ[MULTIPROC])
    assert made.is_dir() and not any(made.iterdir())
    stale = made / "counter_4242.db"
    stale.write_bytes(b"old")
    keep = made / "notes.txt"
    keep.write_text("not a metrics file")
    ns["on_starting"](None)
    assert not stale.exists() and keep.exists()
    ns["on_exit"](None)
    assert not made.exists()


def test_an_operator_metrics_directory_is_left_alone(monkeypatch, tmp_path):
    ns = load_conf(monkeypatch, **{MULTIPROC: str(tmp_path)})
    assert os.environ[MULTIPROC] == str(tmp_path)
    theirs = tmp_path / "counter_4242.db"
    theirs.write_bytes(b"theirs")
    ns["on_starting"](None)
    ns["on_exit"](None)
    assert theirs.exists()


def test_a_dead_worker_is_marked_dead_for_the_metrics(monkeypatch, tmp_path):
    pytest.importorskip("prometheus_client")
    ns = load_conf(monkeypatch, **{MULTIPROC: str(tmp_path)})
    live = tmp_path / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    ns["child_exit"](None, SimpleNamespace(pid=4242))
    assert not live.exists()


def test_child_exit_works_without_prometheus_client(monkeypatch, tmp_path):
    ns = load_conf(monkeypatch, **{MULTIPROC: str(tmp_path)})
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now fails
    assert ns["child_exit"](None, SimpleNamespace(pid=4242)) is None


@pytest.mark.timeout(90)
def test_one_worker_answers_100_concurrent_waits_on_running_jobs(redis_url, pisim):
    pisim.configure(job_seconds=120)  # every job is still running when its answer is due
    port = free_port()
    env = {
        "PI_BASE_URL": pisim.base_url,
        "REDIS_URL": redis_url,
        "CONNECTOR_SECRET_KEY": TEST_SECRET_KEY,
        "CONNECTOR_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CONNECTOR_LOG_LEVEL": "WARNING",
        "CONNECTOR_MANYCHAT_WAIT_SECONDS": "3",  # short, to keep the test quick
    }
    argv = python_argv(
        "-m", "gunicorn", "-c", str(CONF), "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "wsgi:app",
    )  # fmt: skip
    count = 100
    run = uuid.uuid4().hex[:8]

    def extract(n: int) -> requests.Response:
        body = {"url": f"https://serving{n}-{run}.example"}
        return requests.post(
            f"http://127.0.0.1:{port}{EXTRACT}",
            json=body,
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        )

    with ServerProcess(argv, port=port, env=env) as web:
        assert "Using worker: gevent" in web.output()
        with ThreadPoolExecutor(max_workers=count) as pool:
            answers = list(pool.map(extract, range(count)))
        bad = [(a.status_code, a.text[:200]) for a in answers if a.status_code != 200]
        assert not bad, f"{len(bad)} failed, e.g. {bad[:3]}\n{web.output()[-3000:]}"
    bodies = [a.json() for a in answers]
    assert {b["status"] for b in bodies} <= {"queued", "pending", "processing"}
    assert len({b["job_id"] for b in bodies}) == count
    assert pisim.count(CREATE_ROUTE) == count


def test_a_worker_freezes_what_the_app_loaded_out_of_garbage_collection(monkeypatch):
    import gc

    ns = load_conf(monkeypatch)
    try:
        ns["post_worker_init"](None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
