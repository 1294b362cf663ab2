"""Stormproof: a chaos-and-resilience testing harness for microservice systems."""

__version__ = "0.1.0"
