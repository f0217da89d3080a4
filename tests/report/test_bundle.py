"""Signed evidence bundles and `verify`: a bundle made from a real store verifies; any byte
changed anywhere is caught; a claim or a measurement changed and signed again is named."""

from __future__ import annotations

import gzip
import hashlib
import random
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from reachwatch.cli import app
from reachwatch.evidence import (
    fingerprint,
    generate_keys,
    load_private_key,
    load_public_key,
    verify_bundle,
    write_bundle,
)
from reachwatch.evidence._bundle import MANIFEST, SIGNATURE, _dumps
from reachwatch.evidence._zip import Entry, make_entry, read_entries, zip_bytes
from reachwatch.report import build_report, write_report
from reachwatch.store import open_store

from .conftest import SmallStore, copy_store


@dataclass(frozen=True)
class Made:
    bundle: Path
    private: Path
    public: Path


def _make(store: SmallStore, root: Path) -> Made:
    private, public = generate_keys(root / "keys")
    key = load_private_key(private)
    con = open_store(store.db, read_only=True)
    try:
        report = build_report(store.case, con, signer=fingerprint(key.public_key()))
        write_report(report, root / "report", pdf=False)
        write_bundle(
            root / "bundle.zip",
            report=report,
            report_dir=root / "report",
            case=store.case,
            case_text=store.case_file.read_text(),
            con=con,
            key=key,
        )
    finally:
        con.close()
    return Made(root / "bundle.zip", private, public)


@pytest.fixture(scope="module")
def made(small_store: SmallStore, tmp_path_factory: pytest.TempPathFactory) -> Made:
    return _make(small_store, tmp_path_factory.mktemp("bundle"))


def test_a_bundle_verifies_from_its_raw_measurements(made: Made) -> None:
    result = verify_bundle(made.bundle.read_bytes(), load_public_key(made.public))
    assert result.ok, [str(f) for f in result.findings]
    held = " ".join(result.held)
    for needed in ("container", "signature", "hashes", "verdicts", "facts", "report.html"):
        assert needed in held
    run = CliRunner().invoke(app, ["verify", str(made.bundle), "--key", str(made.public)])
    assert run.exit_code == 0, run.output
    assert "verified, everything holds" in run.output


def test_bundle_holds_the_raw_bytes_exactly_and_reads_with_any_unzip(
    made: Made, small_store: SmallStore
) -> None:
    with zipfile.ZipFile(made.bundle) as z:
        assert z.testzip() is None
        names = z.namelist()
        manifest = orjson.loads(z.read(MANIFEST))
        raw = b"".join(z.read(n) for n in names if n.startswith("measurements/"))
    for key in (
        "reachwatch_version",
        "classifier_version",
        "rules_sha256",
        "fingerprints_sha256",
        "catalog_sha256",
        "store_query",
        "detect_params",
    ):
        assert manifest[key], key
    assert "probe_cc = 'PK' AND platform = 'x'" in manifest["store_query"]
    assert set(manifest["files"]) == set(names) - {MANIFEST, SIGNATURE}
    # Every measurement line of the corpus as it was simulated, byte for byte.
    import gzip

    source = b"".join(gzip.decompress(p.read_bytes()) for p in small_store.corpus.rglob("*.gz"))
    ours = raw.splitlines()
    assert len(set(ours)) == len(ours) > 100
    assert set(ours) <= set(source.splitlines())  # each one exactly as the probe wrote it
    assert manifest["measurements"] == len(ours)


def test_every_byte_flip_is_caught(made: Made) -> None:
    """>= 1,000 random single-byte changes anywhere, plus one in each file's header and one in
    each file's stored data: every one fails verification."""
    blob = made.bundle.read_bytes()
    key = load_public_key(made.public)
    rng = random.Random(20240217)
    offsets = [rng.randrange(len(blob)) for _ in range(1000)]
    pos = 0
    for entry in read_entries(blob):
        header = 30 + len(entry.name.encode())
        offsets += [pos + rng.randrange(header), pos + header + rng.randrange(len(entry.stored))]
        pos += header + len(entry.stored)
    offsets += [pos + rng.randrange(len(blob) - pos) for _ in range(20)]  # central directory
    missed = []
    for offset in offsets:
        damaged = bytearray(blob)
        damaged[offset] ^= rng.randrange(1, 256)
        if verify_bundle(bytes(damaged), key).ok:
            missed.append(offset)
    assert len(offsets) >= 1000 + 2 * len(read_entries(blob))
    assert missed == []


def _resigned(made: Made, change: dict[str, bytes | None]) -> bytes:
    """The bundle with some files replaced (None: removed), its manifest rebuilt and signed
    again with the signer's own key: what only the signer could forge."""
    entries = {e.name: e for e in read_entries(made.bundle.read_bytes())}
    manifest = orjson.loads(entries[MANIFEST].data)
    kept: list[Entry] = []
    for name, entry in entries.items():
        if name in (MANIFEST, SIGNATURE):
            continue
        data = change.get(name, entry.data)
        if data is None:
            del manifest["files"][name]
            continue
        new = make_entry(name, data)
        manifest["files"][name] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "zip_sha256": hashlib.sha256(new.stored).hexdigest(),
        }
        kept.append(new)
    body = _dumps(manifest)
    sig = load_private_key(made.private).sign(body).hex().encode() + b"\n"
    return zip_bytes(
        [
            *kept,
            make_entry(MANIFEST, body, compress=False),
            make_entry(SIGNATURE, sig, compress=False),
        ]
    )


def test_a_changed_claim_signed_again_is_named(made: Made) -> None:
    with zipfile.ZipFile(made.bundle) as z:
        facts = orjson.loads(z.read("facts.json"))
    facts["check"]["directives"][1]["networks"][0]["status"] = "followed"
    result = verify_bundle(_resigned(made, {"facts.json": _dumps(facts)}))
    assert not result.ok
    (claim,) = [f for f in result.findings if f.file == "facts.json"]
    assert claim.claim == "check.directives[1].networks[0].status"
    assert "'followed'" not in claim.detail and '"followed"' in claim.detail
    assert '"not followed"' in claim.detail


def test_a_changed_measurement_signed_again_is_named(made: Made) -> None:
    with zipfile.ZipFile(made.bundle) as z:
        name = next(n for n in z.namelist() if n.startswith("measurements/"))
        lines = z.read(name).splitlines(keepends=True)
    dropped = orjson.loads(lines[0])["measurement_uid"]
    result = verify_bundle(_resigned(made, {name: b"".join(lines[1:])}))
    assert not result.ok
    named = [f for f in result.findings if f.file == "verdicts.json"]
    assert [f.claim for f in named] == [f"measurement {dropped}"]
    assert "no such measurement" in named[0].detail


def test_wrong_key_and_damaged_file_fail_with_reasons(made: Made, tmp_path: Path) -> None:
    _, other = generate_keys(tmp_path / "other")
    run = CliRunner().invoke(app, ["verify", str(made.bundle), "--key", str(other)])
    assert run.exit_code == 1 and "signed with key" in run.output
    cut = tmp_path / "cut.zip"
    cut.write_bytes(made.bundle.read_bytes()[:-10])
    run = CliRunner().invoke(app, ["verify", str(cut)])
    assert run.exit_code == 1 and "NOT verified" in run.output
    run = CliRunner().invoke(app, ["verify", str(tmp_path / "none.zip")])
    assert run.exit_code == 2 and "no such file" in run.output


def test_keys_generate_private_key_is_owner_only(tmp_path: Path) -> None:
    run = CliRunner().invoke(app, ["keys", "generate", "--out", str(tmp_path)])
    assert run.exit_code == 0, run.output
    private = next(tmp_path.glob("*.key"))
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    fp = fingerprint(load_private_key(private).public_key())
    assert fp in run.output and len(fp) == 64
    before = private.read_bytes()
    again = CliRunner().invoke(app, ["keys", "generate", "--out", str(tmp_path)])
    assert again.exit_code == 2 and "never replaced" in again.output
    assert private.read_bytes() == before


def test_the_bundle_needs_only_the_store(small_store: SmallStore, tmp_path: Path) -> None:
    """The store keeps every measurement's bytes: with the files it was ingested from gone, the
    bundle still holds them byte for byte, and verifies."""
    store = copy_store(small_store, tmp_path)
    originals = {p: p.read_bytes() for p in store.corpus.rglob("*.gz")}
    lines = {
        line for data in originals.values() for line in gzip.decompress(data).splitlines() if line
    }
    for path in originals:
        path.unlink()
    _, _ = generate_keys(tmp_path / "keys")
    args = [
        "report",
        str(store.case_file),
        "--db",
        str(store.db),
        "--out",
        str(tmp_path / "r"),
        "--bundle",
        str(tmp_path / "b.zip"),
        "--key",
        str(tmp_path / "keys" / "reachwatch-signing.key"),
    ]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    with zipfile.ZipFile(tmp_path / "b.zip") as bundle:
        raws = b"".join(
            bundle.read(name) for name in bundle.namelist() if name.startswith("measurements/")
        ).splitlines()
    assert len(raws) > 100 and set(raws) <= lines
    public = tmp_path / "keys" / "reachwatch-signing.pub"
    check = CliRunner().invoke(app, ["verify", str(tmp_path / "b.zip"), "--key", str(public)])
    assert check.exit_code == 0, check.output
