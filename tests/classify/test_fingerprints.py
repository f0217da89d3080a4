"""Fingerprint loaders (OONI CSV, Censored Planet JSON lines) and their matching semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from reachwatch.classify import FingerprintError, load_fingerprints
from reachwatch.classify._fingerprints import default_fingerprints

HEADER = (
    "name,scope,other_names,location_found,pattern_type,pattern,"
    "confidence_no_fp,expected_countries,source,exp_url,notes\n"
)


def _csv(tmp_path: Path, rows: list[str], name: str = "http.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def test_ooni_http_match_types(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        [
            "t.full,isp,,body,full,exactly this,5,,t,,",
            "t.contains,isp,,body,contains,blocked by order,5,,t,,",
            "t.prefix,isp,,header.location,prefix,http://block.example/,5,,t,,",
            r"t.regexp,isp,,body,regexp,ref=\d{4}-X,5,,t,,",
            "t.server,isp,,header.server,full,Filter/1.0,5,,t,,",
            "t.fp,fp,,body,contains,Welcome home,1,,t,,",
        ],
    )
    fps = load_fingerprints(ooni_http=path)

    def name(body: str, headers: dict[str, str] | None = None) -> str | None:
        found = fps.match_http(body, headers or {})
        return found.name if found else None

    assert name("exactly this") == "t.full"
    assert name("exactly this, and more") is None  # full means the whole body
    assert name("<p>This page was blocked by order of the court</p>") == "t.contains"
    assert name("", {"location": "http://block.example/?u=x"}) == "t.prefix"
    assert name("", {"location": "https://x.com/http://block.example/"}) is None
    assert name("ref=2024-X") == "t.regexp"
    assert name("", {"server": "Filter/1.0"}) == "t.server"
    found = fps.match_http("Welcome home, blocked by order", {})
    assert found is not None and (found.name, found.blocking) == ("t.fp", False)


def test_censored_planet_signatures_false_positive_first(tmp_path: Path) -> None:
    blockpages = tmp_path / "bp.json"
    blockpages.write_text(
        '{"fingerprint":"b_one","pattern":"Access.*Denied"}\n\n'
        '{"fingerprint":"b_two","pattern":"prohibited"}\n'
    )
    false_positives = tmp_path / "fp.json"
    false_positives.write_text('{"fingerprint":"x_fp","pattern":"Reference #\\\\d+"}\n')
    fps = load_fingerprints(cp_blockpages=blockpages, cp_false_positives=false_positives)
    match = fps.match_page("Access\nDenied")  # DOTALL: '.' crosses lines
    assert match is not None and (match.name, match.blocking) == ("b_one", True)
    match = fps.match_page("Access Denied. Reference #18")
    assert match is not None and (match.name, match.blocking) == ("x_fp", False)
    assert fps.match_page("hello") is None


def test_dns_fingerprints_are_exact_addresses(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["t.dns,nat,,dns,full,192.0.2.66,5,PK,t,,"], "dns.csv")
    fps = load_fingerprints(ooni_dns=path)
    assert fps.match_dns("192.0.2.66") == "t.dns"
    assert fps.match_dns("192.0.2.6") is None


def test_shipped_set_knows_pakistans_blockpage_and_irans_portal() -> None:
    fps = default_fingerprints()
    page = "<title>Surf Safely</title>This website is prohibited for viewership from within"
    found = fps.match_http(page + " Pakistan.", {})
    assert found is not None and found.blocking
    assert fps.match_dns("10.10.34.36") is not None
    found = fps.match_page("error code: 1001")
    assert found is not None and not found.blocking


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("ooni_http", "no,columns\n1,2\n", "not an OONI fingerprint CSV"),
        ("ooni_http", HEADER + "t,isp,,body,fuzzy,x,5,,t,,\n", "unknown pattern type"),
        ("ooni_http", HEADER + "t,isp,,body,regexp,(unclosed,5,,t,,\n", "bad regular expression"),
        ("cp_blockpages", "not json\n", "not a signature line"),
        ("cp_false_positives", '{"pattern": "x"}\n', "not a signature line"),
    ],
)
def test_bad_fingerprint_files_are_user_errors(
    tmp_path: Path, kind: str, text: str, message: str
) -> None:
    path = tmp_path / "bad"
    path.write_text(text)
    with pytest.raises(FingerprintError, match=message):
        load_fingerprints(**{kind: path})


def test_missing_fingerprint_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(FingerprintError, match="cannot read fingerprints"):
        load_fingerprints(ooni_dns=tmp_path / "absent.csv")


@pytest.mark.reference
def test_the_public_lists_load(reference_dir: Path) -> None:
    ooni = reference_dir / "fingerprints" / "ooni"
    cp = reference_dir / "censoredplanet" / "metadata" / "data"
    fps = load_fingerprints(
        ooni_dns=ooni / "fingerprints_dns.csv",
        ooni_http=ooni / "fingerprints_http.csv",
        cp_blockpages=cp / "blockpage_signatures.json",
        cp_false_positives=cp / "false_positive_signatures.json",
    )
    assert len(fps.dns) > 200
    assert len(fps.http) > 1700
    assert len(fps.blockpages) > 600 and len(fps.false_positives) > 450
    found = fps.match_http("", {"location": "http://lamanlabuh.aduankonten.id/"})
    assert found is not None and found.blocking
