"""Run the simulator: python -m connector.pisim --host 127.0.0.1 --port 8321."""

from connector.pisim.server import main

if __name__ == "__main__":
    raise SystemExit(main())
