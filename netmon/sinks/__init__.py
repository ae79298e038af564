"""Metric sinks: the only modules that import prometheus-client and influxdb-client."""
