"""The report's methods section: where the data came from and under which licence, which
classifier and rules judged it, the hashes of the data files they read, the detection
parameters, and how missing data is treated."""

from __future__ import annotations

from html import escape
from typing import Any

from reachwatch.report._answer import when
from reachwatch.report._operators import operators_source

LICENCES = {
    "ooni": "OONI measurements: published by OONI under CC BY-NC-SA 4.0 (attribution, "
    "non-commercial, share-alike).",
    "censoredplanet": "Censored Planet scans: published by Censored Planet (University of "
    "Michigan) under its own data-use terms; check them before republishing.",
    "reachwatch": "Measured with `reachwatch probe`: the licence is that of whoever ran the "
    "probe and published its output.",
}
SYNTHETIC_SOURCE = (
    "Simulated by `reachwatch simulate` from the case file's simulation assumptions: not "
    "observations of any real network, and labelled SYNTHETIC wherever they appear."
)
NO_DATA = (
    "An hour without decisive measurements (blocked or accessible) is a gap, never 'not "
    "blocked': a period of blocking runs only as far as its last blocked measurement, a "
    "directive whose deadline falls after a network's data is 'cannot tell' (with what the "
    "data showed when it ended), and an empty store says that nothing is known. Measurements "
    "judged 'down' (failing for the control too) or 'inconclusive' count neither way."
)


def _sources(facts: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(s['source'])}</td><td>{s['count']:,}</td>"
        f"<td>{when(s['first'])} to {when(s['last'])}</td>"
        f"<td>{escape(SYNTHETIC_SOURCE if s['synthetic'] else LICENCES.get(s['source'], '-'))}"
        "</td></tr>"
        for s in facts["sources"]
    )
    return (
        "<h3>Data sources and licences</h3><table><tr><th>source</th><th>measurements</th>"
        f"<th>span</th><th>licence and origin</th></tr>{rows}</table>"
    )


def _verdicts(facts: dict[str, Any]) -> str:
    counts = ", ".join(f"{escape(v)} {n:,}" for v, n in facts["verdicts"].items())
    rules = "".join(
        f'<tr><td class="ids">{escape(r)}</td><td>{n:,}</td></tr>'
        for r, n in facts["rules"].items()
    )
    return (
        f"<h3>Verdicts and the rules that gave them</h3><p>Overall verdicts: {counts}.</p>"
        "<table><tr><th>layer:rule that fired</th><th>measurements</th></tr>"
        f"{rules}</table>"
    )


def methods_section(facts: dict[str, Any], meta: dict[str, Any]) -> str:
    prov = meta["provenance"]
    params = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>"
        for k, v in prov["detect_params"].items()
    )
    signer = (
        f'Signed bundle: Ed25519 public key fingerprint <span class="ids">{escape(meta["signer"])}'
        "</span> (SHA-256 of the raw public key). `reachwatch verify BUNDLE --key PUB` checks it."
        if meta.get("signer")
        else "This report was not written into a signed bundle."
    )
    return (
        '<section id="methods"><h2>Methods</h2>' + _sources(facts) + "<h3>Tools</h3><table>"
        f"<tr><td>reachwatch</td><td>{escape(prov['reachwatch_version'])}</td></tr>"
        f"<tr><td>classifier</td><td>{escape(prov['classifier_version'])}</td></tr>"
        f'<tr><td>rule table SHA-256</td><td class="ids">{prov["rules_sha256"]}</td></tr>'
        f'<tr><td>fingerprint set SHA-256</td><td class="ids">{prov["fingerprints_sha256"]}'
        "</td></tr>"
        f'<tr><td>platform catalog SHA-256</td><td class="ids">{prov["catalog_sha256"]}</td></tr>'
        f'<tr><td>measurements selected by</td><td class="ids">{escape(meta["query"])}</td></tr>'
        "</table>"
        + _verdicts(facts)
        + "<h3>Detection parameters</h3><p>Hourly series per network; offline change points "
        "place each start and end between two single measurements, with bounds.</p>"
        f"<table>{params}</table>"
        f"<h3>How “no data” is treated</h3><p>{escape(NO_DATA)}</p>"
        f"<h3>Networks</h3><p>{escape(operators_source())}</p>"
        f"<h3>Signature</h3><p>{signer}</p>"
        "<p><b>All times in this report are UTC.</b></p></section>"
    )
