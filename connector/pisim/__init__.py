"""A local, faithful HTTP simulator of Pi's API, with fault injection for tests and benchmarks."""

from connector.pisim.server import build_server, main, parse_args, serve

__all__ = ["build_server", "main", "parse_args", "serve"]
