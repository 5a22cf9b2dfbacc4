"""The layer contracts hold, and every part of the core is placed in a layer."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tomllib

REPO = pathlib.Path(__file__).resolve().parent.parent
CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]


def _layered() -> set[str]:
    layers = next(c for c in CONTRACTS["contracts"] if c["type"] == "layers")["layers"]
    return {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}


def test_lint_imports_keeps_every_contract():
    linter = pathlib.Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_and_package_of_the_core_sits_in_a_layer():
    core = REPO / "connector"
    children = {
        f"connector.{p.stem if p.is_file() else p.name}"
        for p in core.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    # The simulator is a separate program: its own contract keeps it apart from everything.
    unplaced = children - _layered() - {"connector.pisim"}
    assert not unplaced, f"add these to the layers contract in pyproject.toml: {sorted(unplaced)}"


def test_the_core_root_holds_only_entry_points_and_what_every_layer_imports():
    root = {p.name for p in (REPO / "connector").glob("*.py")}
    assert root == {
        "__init__.py", "app.py", "worker.py", "cli.py", "devstack.py",
        "config.py", "errors.py", "auth.py",
    }  # fmt: skip
    # The ledger is a package of its own (records and the Redis ledger), beside the layers.
    assert (REPO / "connector" / "ledger" / "__init__.py").exists()


def test_every_platform_plugs_in_through_init_app():
    import manychat_app
    import shopify_app
    import zapier_app

    for platform in (manychat_app, zapier_app, shopify_app):
        assert callable(platform.init_app), platform.__name__
