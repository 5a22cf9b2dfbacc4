"""The job lifecycle: submit once, wait, track to the end, and act on the end."""
