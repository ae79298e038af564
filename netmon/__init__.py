"""netmon: network monitoring for a regency NOC (SNMP/SSH → rates vs contract → Prometheus/Influx)."""

__version__ = "0.1.0"
