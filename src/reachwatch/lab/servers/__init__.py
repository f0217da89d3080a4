"""Real servers for tests and the censorship lab: asyncio, in-process, on any address.

Every server takes `host` and `port` (port 0 picks a free one; after start `server.port` holds
the bound port), and is started and stopped with `await server.start()` / `await server.stop()`
or used as `async with Server(...) as server:`. Stopping ends every open connection.

    pki = LabPki(tmp_path)                     # lab CA (pki.ca_file) + an untrusted censor CA
    pair = pki.issue(["x.com", "api.x.com"])   # CertPair(cert_file, key_file, hosts), SAN names
    ctx = pki.server_context(["x.com"])        # ssl.SSLContext for a server; untrusted=True: MITM
    pki.client_context()                       # ssl.SSLContext trusting only the lab CA

    DnsServer(zone, host=, port=, policy=DnsPolicy(...))    # UDP + TCP on one port
        zone = {"x.com": ["127.0.0.1", "::1"]}             # A and AAAA; NXDOMAIN otherwise
        DnsPolicy(drop=frozenset(names), nxdomain=frozenset(names),
                  forged={name: [addresses]}, upstream=(host, port))
        (a policy name matches itself and its subdomains; forged covers bogons and injection)
    DohServer(zone, ssl_context=, host=, port=, policy=)    # RFC 8484 GET+POST; .url

    WebServer(sites, host=, port=, ssl_context=None,        # HTTP, or HTTPS with a context
              reset_snis=(), stall_snis=(), stall_all=False)
        sites = {"x.com": Page("X"), "*": {"/": Page("..."), "/big": Large(8 << 20)}}
        behaviours: Page(title, text, status, padding, chunk_size), blockpage(),
                    Redirect(hops, location),
                    Truncated(declared, sent), Endless(), Large(size), DohEndpoint(responder)
        reset_snis: RST (SO_LINGER 0) right after a ClientHello naming one of them;
        stall_snis: accepted, never answered; stall_all: no handshake ever completes.
        The SNI is read from the raw ClientHello; other SNIs get a normal handshake.

    QuicServer(pki.issue([...]), host=, port=, alpn=("h3",))  # aioquic; answers GETs over h3
"""

from reachwatch.lab.servers._base import LabServer
from reachwatch.lab.servers._behaviours import (
    BLOCKPAGE_TEXT,
    BLOCKPAGE_TITLE,
    Behaviour,
    Endless,
    Large,
    Page,
    Redirect,
    Truncated,
    blockpage,
)
from reachwatch.lab.servers._clienthello import parse_sni
from reachwatch.lab.servers._dns import DnsPolicy, DnsResponder, DnsServer
from reachwatch.lab.servers._doh import DohEndpoint, DohServer
from reachwatch.lab.servers._http import Request
from reachwatch.lab.servers._pki import CertPair, LabPki
from reachwatch.lab.servers._quic import QuicServer
from reachwatch.lab.servers._web import Site, WebServer

__all__ = [
    "BLOCKPAGE_TEXT",
    "BLOCKPAGE_TITLE",
    "Behaviour",
    "CertPair",
    "DnsPolicy",
    "DnsResponder",
    "DnsServer",
    "DohEndpoint",
    "DohServer",
    "Endless",
    "LabPki",
    "LabServer",
    "Large",
    "Page",
    "QuicServer",
    "Redirect",
    "Request",
    "Site",
    "Truncated",
    "WebServer",
    "blockpage",
    "parse_sni",
]
