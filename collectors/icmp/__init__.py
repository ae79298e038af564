"""The ICMP collector: bursts of echo requests per device, loss, RTT and jitter."""
