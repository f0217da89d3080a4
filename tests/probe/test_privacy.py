"""The probe's public address never reaches a measurement, whatever a server reflects.

Behind NAT a probe never sees its public address; the control does, and says so in its answer.
Here the probe's "public" address is an address the test gives the loopback interface of a
network namespace it creates for itself (`unshare -rn`: no root needed where user namespaces
are allowed), so the control and the reflecting server both see the probe come from it, while
they stay on loopback. The server reflects the address it sees in every spelling it can.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reachwatch.lab.servers import Page, WebServer

# The probe's address inside the namespace: neither loopback nor one of the machine's global
# addresses, so only the control's word can get it scrubbed.
PUBLIC = {"ipv4": "10.9.9.9", "ipv6": "fd00:9::9"}

# Runs inside the namespace: reflecting server + control on loopback, one probe, the result
# as JSON on stdout.
_SCENARIO = r"""
import asyncio, ipaddress, json, sys, urllib.parse
from reachwatch.control import ControlServer
from reachwatch.probe import ProbeOptions, Target, probe

family, source, use_control = sys.argv[1], sys.argv[2], sys.argv[3] == "control"
loop_host = "127.0.0.1" if family == "ipv4" else "::1"

def spellings(seen):
    ip = ipaddress.ip_address(seen)
    out = {"plain": str(ip), "upper": str(ip).upper(), "exploded": ip.exploded.upper(),
           "urlencoded": urllib.parse.quote(str(ip), safe="")}
    if ip.version == 4:
        out["decimal"] = str(int(ip))
        out["hex"] = hex(int(ip))
        out["padded"] = ".".join(f"{int(o):03d}" for o in str(ip).split("."))
        out["dashed"] = "ip-" + str(ip).replace(".", "-") + ".example.net"
        out["mapped"] = f"::ffff:{ip}"
        out["mapped_hex"] = f"::ffff:{int(ip) >> 16:x}:{int(ip) & 0xFFFF:x}"
    else:
        groups = ip.exploded.split(":")
        out["uncompressed"] = ":".join(g.lstrip("0") or "0" for g in groups)
    return out

async def reflect(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    seen = writer.get_extra_info("peername")[0]
    forms = spellings(seen)
    body = json.dumps({"your_ip": forms}).encode()
    html = f"<title>You are {forms['plain']}</title>".encode()
    body = html + body
    headers = "".join(f"X-Ip-{k}: {v}\r\n" for k, v in forms.items())
    writer.write(
        b"HTTP/1.1 200 OK\r\n" + headers.encode()
        + f"Set-Cookie: ip={forms['urlencoded']}; Path=/\r\n".encode()
        + f"Content-Type: text/html\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(reflect, loop_host, 0)
    port = server.sockets[0].getsockname()[1]
    host = loop_host if family == "ipv4" else f"[{loop_host}]"
    async with server, ControlServer(loop_host, 0, allow_private=True) as control:
        options = ProbeOptions(
            control_url=control.url if use_control else None, local_address=source,
            system_resolver=False, doh_url=None, quic=False, throughput=False,
        )
        run = await probe([Target(f"http://{host}:{port}/")], options)
    print(json.dumps({"measurements": run.measurements,
                      "scrubbed": run.public_address_scrubbed,
                      "reflected": spellings(source)}))

asyncio.run(main())
"""


def _in_namespace(family: str, with_control: bool) -> dict[str, Any]:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2) to make a network namespace")
    source = PUBLIC[family]
    setup = (
        "ip link set lo up && ip addr add 10.9.9.9/32 dev lo && "
        'ip -6 addr add fd00:9::9/128 dev lo nodad && exec "$@"'
    )
    command = ["unshare", "-rn", "sh", "-c", setup, "sh", sys.executable, "-c", _SCENARIO]
    args = [family, source, "control" if with_control else "none"]
    try:
        result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    except OSError as exc:
        pytest.skip(f"cannot make a network namespace: {exc}")
    if result.returncode != 0 and "unshare" in result.stderr.split(":", 1)[0]:
        pytest.skip(f"cannot make a network namespace: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_a_reflected_public_address_is_scrubbed_in_every_spelling(family: str) -> None:
    doc = _in_namespace(family, with_control=True)
    (measurement,) = doc["measurements"]
    text = json.dumps(measurement)
    for form, spelling in doc["reflected"].items():
        assert spelling.lower() not in text.lower(), f"{form} spelling {spelling} recorded"
    assert doc["scrubbed"] is True
    assert measurement["annotations"]["x_public_address_scrubbed"] == "true"
    (request,) = measurement["test_keys"]["requests"]
    response = request["response"]
    assert response["x_title"] == "You are [scrubbed]"
    assert response["headers"]["Set-Cookie"] == "ip=[scrubbed]; Path=/"
    assert all(v.endswith("[scrubbed]") or "[scrubbed]" in v for k, v in
               response["headers"].items() if k.startswith("X-Ip-"))  # fmt: skip
    assert measurement["test_keys"]["control"]["x_client_address"] == "[scrubbed]"
    assert measurement["test_keys"]["requests"][0]["failure"] is None  # the page itself loaded


def test_without_a_control_the_run_says_the_address_could_not_be_scrubbed() -> None:
    doc = _in_namespace("ipv4", with_control=False)
    (measurement,) = doc["measurements"]
    assert doc["scrubbed"] is False
    assert measurement["annotations"]["x_public_address_scrubbed"] == "false"
    # And it is right to warn: nothing told the probe its address, so the reflection stays.
    assert PUBLIC["ipv4"] in measurement["test_keys"]["requests"][0]["response"]["x_title"]


def test_the_command_line_warns_when_no_control_can_say_the_address() -> None:
    async def scenario() -> subprocess.CompletedProcess[str]:
        async with WebServer({"*": Page("fine")}, host="127.0.0.1") as web:
            process = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("reachwatch")),
                "probe", f"http://127.0.0.1:{web.port}/", "--no-doh", "--json",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 60)
            return subprocess.CompletedProcess(
                [], process.returncode or 0, out.decode(), err.decode()
            )

    result = asyncio.run(scenario())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["public_address_scrubbed"] is False
    assert "cannot have it scrubbed" in result.stderr
