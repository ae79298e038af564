"""SNMP collector: `client` (the only pysnmp importer), `ifmib` (pure IF-MIB → readings),
`poller` (one device poll → `PollResult`)."""
