"""Deliver finished jobs: subscriptions and hooks, dispatch with retries, outbound HTTP."""
