"""Lifecycles and clients of the real infrastructure: Toxiproxy, Prometheus and etcd."""
