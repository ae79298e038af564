"""netmon: network monitoring for a regency NOC.

SNMP/SSH polls → rates vs contracted capacity → Prometheus and InfluxDB.
"""

__version__ = "0.1.0"
