"""Running intake: logging, Prometheus metrics, leadership between processes."""
