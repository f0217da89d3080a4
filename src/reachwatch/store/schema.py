"""The columns of the store's tables: the contract between ingest (writer) and detect, cases,
report and serve (readers). Readers query the SQL views of the same names that
`reachwatch.store` opens over the Parquet layout. Add columns freely; never rename or drop one.
"""

from __future__ import annotations

# One row per measurement: its identity, where it came from, and its overall verdict.
MEASUREMENTS_COLUMNS: dict[str, str] = {
    "measurement_id": "VARCHAR",  # OONI measurement_uid / report_id+input hash / content hash
    "source": "VARCHAR",  # 'ooni' | 'censoredplanet' | 'reachwatch'
    "test_name": "VARCHAR",
    "input": "VARCHAR",  # URL or domain measured, NULL when the test has none
    "host": "VARCHAR",  # hostname measured (from input), NULL when none
    "platform": "VARCHAR",  # catalog platform of host, NULL when not in the catalog
    "probe_cc": "VARCHAR",
    "probe_asn": "VARCHAR",  # 'AS17557'
    "measurement_start_time": "TIMESTAMP",  # UTC
    "date": "DATE",  # partition key, UTC date of measurement_start_time
    "verdict": "VARCHAR",  # accessible | blocked | down | inconclusive | NULL (not classified)
    "technique": "VARCHAR",  # e.g. 'tls.reset', NULL unless blocked
    "classified": "BOOLEAN",  # false: stored raw, test not supported by the classifier
    "synthetic": "BOOLEAN",  # true for simulated data, which must always say so
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
    # Which classifier gave `verdict` (NULL when not classified, or stored before these were
    # kept): reachwatch.classify's version and rule digest, and the SHA-256 of the
    # fingerprint set it used (reachwatch.ingest.classifier_version / fingerprints_sha256).
    "classifier_version": "VARCHAR",
    "fingerprints_sha256": "VARCHAR",
}

# One row per measurement x host x address x layer: what classify judged.
OBSERVATIONS_COLUMNS: dict[str, str] = {
    "measurement_id": "VARCHAR",
    "probe_cc": "VARCHAR",
    "probe_asn": "VARCHAR",
    "measurement_start_time": "TIMESTAMP",
    "date": "DATE",
    "platform": "VARCHAR",
    "host": "VARCHAR",
    "address": "VARCHAR",  # NULL for layers judged per host (dns, http)
    "layer": "VARCHAR",  # dns | tcp | tls | http | quic | throughput
    "verdict": "VARCHAR",  # ok | blocked | down | inconclusive
    "rule": "VARCHAR",
    "technique": "VARCHAR",
    "failure": "VARCHAR",  # OONI failure string, NULL on success
    "loni_blocked": "DOUBLE",
    "loni_down": "DOUBLE",
    "loni_ok": "DOUBLE",
    "synthetic": "BOOLEAN",
    "classifier_version": "VARCHAR",  # as in measurements: who judged this row
    "fingerprints_sha256": "VARCHAR",
}

# One row per fact read from a classified measurement: a DNS answer or failure, a TCP connect,
# a TLS or QUIC handshake, an HTTP request (one per hop), a throughput sample; the probe's and
# the control's. What was measured, apart from what was concluded: facts come from the bytes
# alone and do not change when the rules or fingerprints do. Names follow OONI's web
# observations (oonidata WebObservation: ip, port, ip_asn, dns_engine, tls_server_name,
# http_response_status_code, ...); one fact a row, so one `failure` column for its kind.
FACTS_COLUMNS: dict[str, str] = {
    "measurement_id": "VARCHAR",
    "probe_cc": "VARCHAR",
    "probe_asn": "VARCHAR",
    "measurement_start_time": "TIMESTAMP",
    "date": "DATE",
    "synthetic": "BOOLEAN",
    # dns_answer | dns_failure | tcp_connect | tls_handshake | http_request | quic_handshake
    # | throughput_sample
    "kind": "VARCHAR",
    "side": "VARCHAR",  # probe | control
    "entry": "INTEGER",  # position of the fact's entry in its list in the measurement
    "hop": "INTEGER",  # http_request: 0 for the input URL, 1 for the first redirect, ...
    "transaction_id": "BIGINT",
    "hostname": "VARCHAR",
    "ip": "VARCHAR",
    "port": "INTEGER",
    "ip_asn": "BIGINT",  # as the probe or the control annotated the address, NULL if not
    "dns_query_type": "VARCHAR",
    "dns_engine": "VARCHAR",
    "dns_engine_resolver_address": "VARCHAR",
    "failure": "VARCHAR",  # OONI failure string, NULL on success
    "success": "BOOLEAN",
    "tls_server_name": "VARCHAR",
    "tls_version": "VARCHAR",
    "tls_is_certificate_valid": "BOOLEAN",
    "tls_cert_error": "VARCHAR",
    "tls_decoy_sni": "BOOLEAN",
    "http_request_url": "VARCHAR",
    "http_response_status_code": "INTEGER",
    "http_response_title": "VARCHAR",
    "http_response_body_length": "BIGINT",
    "http_response_body_is_truncated": "BOOLEAN",
    "http_response_header_location": "VARCHAR",
    "t0": "DOUBLE",
    "t": "DOUBLE",
    "throughput_bytes": "BIGINT",
    "throughput_seconds": "DOUBLE",
    "throughput_samples": "INTEGER",
}

# One row per measurement that was stored without being classified (a test the classifier
# does not know): the measurement kept whole, so nothing valid is lost.
RAW_COLUMNS: dict[str, str] = {
    "measurement_id": "VARCHAR",
    "source": "VARCHAR",
    "test_name": "VARCHAR",
    "probe_cc": "VARCHAR",
    "measurement_start_time": "TIMESTAMP",
    "date": "DATE",
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
    "json": "VARCHAR",  # the measurement as it was read (UTF-8 JSON)
}

# One row per stored measurement: the exact bytes it was read from (the JSON line, the array
# element, the document), so the evidence can be produced from the store alone, whatever
# happens to the files it was ingested from. zstd-compressed by Parquet.
EVIDENCE_COLUMNS: dict[str, str] = {
    "measurement_id": "VARCHAR",
    "probe_cc": "VARCHAR",
    "date": "DATE",
    "sha256": "VARCHAR",  # hex SHA-256 of `bytes`
    "bytes": "BLOB",
}

# Every table the store holds, by view name.
TABLES: dict[str, dict[str, str]] = {
    "measurements": MEASUREMENTS_COLUMNS,
    "observations": OBSERVATIONS_COLUMNS,
    "facts": FACTS_COLUMNS,
    "raw": RAW_COLUMNS,
    "evidence": EVIDENCE_COLUMNS,
}
