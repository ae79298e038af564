"""SSH collection: optics, radio and router health that SNMP does not give.

`client.py` is the only module importing netmiko (sessions run in a thread pool);
`platforms/` holds one module per CLI family (its commands, error patterns and parsers,
tested on recorded output), over the leaf `platform.py` and the unit helpers in
`parsing.py`; `poller.py` turns a platform's typed reading into `Sample`s for one device.
"""
