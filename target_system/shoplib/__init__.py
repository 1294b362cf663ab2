"""The shop's shared client library: config, metrics, discovery, breaker, retry, app factory."""
