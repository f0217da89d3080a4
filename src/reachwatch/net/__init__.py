"""The network vocabulary every stage shares: which addresses are reserved, the host a URL or an
endpoint names, and OONI's failure strings.

The probe, the control and the classifier all import these from here, so that "a reserved
address", "the host of this URL" and "a timeout" mean one thing across the project.
"""

from reachwatch.net._failures import (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    DNS_NXDOMAIN,
    EOF_ERROR,
    GENERIC_TIMEOUT,
    PROBE_FAULT,
    failure_kind,
    is_certificate_error,
    is_nxdomain,
    is_probe_fault,
    is_reset,
    is_timeout,
    is_unreachable,
)
from reachwatch.net._names import endpoint, endpoint_ip, url_host
from reachwatch.net._reserved import (
    IPAddress,
    embedded_ipv4,
    is_reserved,
    parse_address,
    reserved_reason,
    special_purpose,
)

__all__ = [
    "CONNECTION_REFUSED",
    "CONNECTION_RESET",
    "DNS_NXDOMAIN",
    "EOF_ERROR",
    "GENERIC_TIMEOUT",
    "PROBE_FAULT",
    "IPAddress",
    "embedded_ipv4",
    "endpoint",
    "endpoint_ip",
    "failure_kind",
    "is_certificate_error",
    "is_nxdomain",
    "is_probe_fault",
    "is_reserved",
    "is_reset",
    "is_timeout",
    "is_unreachable",
    "parse_address",
    "reserved_reason",
    "special_purpose",
    "url_host",
]
