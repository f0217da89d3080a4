"""The control: measures a URL from another vantage point so a probe can tell "blocked here"
from "down everywhere". It speaks OONI's web_connectivity test-helper protocol (plus QUIC and a
throughput sample) and refuses to connect to private addresses unless started for a lab.

    async with ControlServer("127.0.0.1", port=0, allow_private=True) as server:
        answer = await query_control(server.url, target_url=url, addresses=["192.0.2.1:443"])
"""

from reachwatch.control._config import ControlConfig, Limits, parse_resolver
from reachwatch.control._safety import refusal_reason
from reachwatch.control._server import ControlServer, make_app

# The client half of the protocol lives with the probe, its only caller (which loads aiohttp
# only when it asks a control); the public name stays here.
from reachwatch.probe._control_client import ControlUnavailable, query_control

__all__ = [
    "ControlConfig",
    "ControlServer",
    "ControlUnavailable",
    "Limits",
    "make_app",
    "parse_resolver",
    "query_control",
    "refusal_reason",
]
