"""Shared by every paper package: cameras, rendering, data, metrics, config, engine, results."""
