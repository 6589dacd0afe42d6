"""What an operator sees: one HTTP server per process with /healthz, /readyz, /metrics."""
