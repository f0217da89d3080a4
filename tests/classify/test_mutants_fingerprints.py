"""A fingerprint file the classifier cannot use is refused with its name and line, and one
with no fingerprint in it is refused rather than quietly turning a detection off. Each test pins
a behaviour mutation testing found no test of tests/classify checking."""

from __future__ import annotations

from pathlib import Path

import pytest

from reachwatch.classify import FingerprintError, load_fingerprints

OONI_HEADER = "name,scope,location_found,pattern_type,pattern\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("option", "name", "text"),
    [
        ("ooni_dns", "dns.csv", OONI_HEADER),
        ("ooni_http", "http.csv", OONI_HEADER),
        ("cp_blockpages", "blockpages.json", "\n"),
        ("cp_false_positives", "false_positives.json", ""),
    ],
)
def test_a_given_file_without_a_fingerprint_is_refused_by_name(
    tmp_path: Path, option: str, name: str, text: str
) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(FingerprintError, match=rf"{name}: no usable fingerprint in this file"):
        load_fingerprints(**{option: path})


def test_a_csv_without_the_columns_names_the_first_missing_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "dns.csv", "name,scope\nx,nat\n")
    with pytest.raises(FingerprintError, match=r"dns\.csv: .*no column 'pattern_type'"):
        load_fingerprints(ooni_dns=path)


def test_a_bad_http_row_is_named_by_its_line_in_the_file(tmp_path: Path) -> None:
    # Line 1 is the header: the bad regular expression is on line 3.
    text = OONI_HEADER + "ok,nat,body,contains,Blocked\nbad,nat,body,regexp,([\n"
    path = _write(tmp_path, "http.csv", text)
    with pytest.raises(FingerprintError, match=r"http\.csv:3: bad regular expression"):
        load_fingerprints(ooni_http=path)


def test_an_http_fingerprint_on_a_header_matches_that_header_only(tmp_path: Path) -> None:
    text = OONI_HEADER + "our_proxy,nat,Header.Server,full,CensorProxy\n"
    fps = load_fingerprints(ooni_http=_write(tmp_path, "http.csv", text))
    found = fps.match_http("", {"server": "CensorProxy"})
    assert found is not None and (found.name, found.blocking) == ("our_proxy", True)
    assert fps.match_http("CensorProxy", {"via": "CensorProxy"}) is None


def test_an_http_fingerprint_scoped_fp_is_not_blocking(tmp_path: Path) -> None:
    text = OONI_HEADER + "cdn_error,fp,body,contains,CDN error page\n"
    fps = load_fingerprints(ooni_http=_write(tmp_path, "http.csv", text))
    found = fps.match_http("a CDN error page", {})
    assert found is not None and (found.name, found.blocking) == ("cdn_error", False)


def test_a_bad_signature_is_named_by_its_line_blank_lines_counted(tmp_path: Path) -> None:
    good = '{"fingerprint":"a","pattern":"x"}'
    path = _write(tmp_path, "bp.json", f'{good}\n\n{{"fingerprint":"b","pattern":"(["}}\n')
    with pytest.raises(FingerprintError, match=r"bp\.json:3: bad regular expression"):
        load_fingerprints(cp_blockpages=path)
    path = _write(tmp_path, "bp.json", f"{good}\nnot json\n")
    with pytest.raises(FingerprintError, match=r"bp\.json:2: not a signature line"):
        load_fingerprints(cp_blockpages=path)


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(FingerprintError, match=r"cannot read fingerprints .*nowhere\.csv"):
        load_fingerprints(ooni_dns=missing)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(OONI_HEADER.encode() + b"caf\xe9,nat,dns,full,10.0.0.1\n")
    with pytest.raises(FingerprintError, match=r"latin\.csv"):
        load_fingerprints(ooni_dns=latin)
