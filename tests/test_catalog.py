from __future__ import annotations

import pytest

from reachwatch.catalog import CatalogError, load_catalog, platform_for_host

X_HOSTS = {
    "x.com",
    "twitter.com",
    "api.x.com",
    "api.twitter.com",
    "t.co",
    "abs.twimg.com",
    "pbs.twimg.com",
    "video.twimg.com",
}


def test_x_has_every_required_host() -> None:
    x = load_catalog().get("x")
    assert {h.host for h in x.hosts} >= X_HOSTS
    assert all(h.urls for h in x.hosts)
    assert 13414 in x.asns


def test_every_required_platform_is_shipped() -> None:
    required = {
        "x",
        "youtube",
        "facebook",
        "instagram",
        "whatsapp",
        "telegram",
        "signal",
        "tiktok",
        "wikipedia",
    }
    catalog = load_catalog()
    assert required <= set(catalog.names())
    for platform in catalog:
        assert platform.hosts and platform.asns and platform.domains, platform.name


@pytest.mark.parametrize(
    ("host", "platform"),
    [
        ("x.com", "x"),
        ("video.twimg.com", "x"),
        ("TWITTER.COM.", "x"),
        ("i.ytimg.com", "youtube"),
        ("scontent.cdninstagram.com", "instagram"),
        ("mmg.whatsapp.net", "whatsapp"),
        ("example.org", None),
        ("notx.com", None),
    ],
)
def test_hosts_roll_up_to_their_platform(host: str, platform: str | None) -> None:
    assert platform_for_host(host) == platform


def test_unknown_platform_is_a_user_error() -> None:
    with pytest.raises(CatalogError, match="unknown platform 'myspace'"):
        load_catalog().get("myspace")


def test_catalog_command_errors_are_one_line() -> None:
    from click.testing import CliRunner

    from reachwatch.cli import app

    for args, message in (
        (["catalog", "--bogus"], "No such option '--bogus'"),
        (["catalog", "myspace"], "unknown platform 'myspace'"),
    ):
        result = CliRunner().invoke(app, args, prog_name="reachwatch")
        assert result.exit_code == 2
        (line,) = result.output.strip().splitlines()
        assert line.startswith("reachwatch: error: ") and message in line


def test_former_names_find_the_platform() -> None:
    catalog = load_catalog()
    assert catalog.get("twitter").name == "x"
    assert catalog.get("Twitter").name == "x"
    assert catalog.get("fb").name == "facebook"
