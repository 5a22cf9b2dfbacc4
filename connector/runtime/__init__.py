"""Process plumbing every layer uses: Redis store, secrets, queues, logs, metrics, backoff."""
