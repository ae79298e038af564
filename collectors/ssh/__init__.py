"""SSH collection: optics, radio and router health that SNMP does not give.

`client.py` is the only module importing netmiko (sessions run in a thread pool);
`parsers/` turn CLI text into plain dicts (pure, tested on recorded output);
`commands.py` says what to run per device type; `poller.py` turns parsed output
into `Sample`s for one device.
"""
