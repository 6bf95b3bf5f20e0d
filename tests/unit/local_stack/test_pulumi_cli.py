"""Fetching the pinned Pulumi CLI: which checksum is trusted, which URLs and archive members are
refused, and that a failure leaves the previous CLI in place (local_stack/pulumi_cli.py). The
whole flow through make is in tests/repo/test_make_up.py."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from local_stack import pulumi_cli
from local_stack.pulumi_cli import InstallError


def archive(path: Path, members: dict[str, bytes | None], symlink: str | None = None) -> Path:
    """A tar.gz with the given files (None: a folder) and optionally a symlink."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755
                tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return path


def test_the_version_is_the_sdks_pin(repo_root: Path) -> None:
    text = (repo_root / "requirements.txt").read_text()
    assert f"pulumi=={pulumi_cli.pinned_version()}\n" in text


def test_the_checksum_is_the_archives_line_of_the_checksums_file() -> None:
    checksums = (
        f"{'a' * 64}  pulumi-v1.0.0-darwin-x64.tar.gz\n{'b' * 64}  pulumi-v1.0.0-linux-x64.tar.gz\n"
    )
    assert pulumi_cli.published_checksum(checksums, "pulumi-v1.0.0-linux-x64.tar.gz") == "b" * 64
    with pytest.raises(InstallError, match=re.escape("lists no pulumi-v1.0.0-linux-arm64.tar.gz")):
        pulumi_cli.published_checksum(checksums, "pulumi-v1.0.0-linux-arm64.tar.gz")


def test_a_pinned_checksum_is_trusted_and_must_be_one() -> None:
    assert pulumi_cli.expected_checksum("https://x", "1", "a.tar.gz", "C" * 64) == "c" * 64
    with pytest.raises(InstallError, match="PULUMI_CLI_SHA256 is not a SHA-256"):
        pulumi_cli.expected_checksum("https://x", "1", "a.tar.gz", "abc")


@pytest.mark.parametrize(
    "url", ["http://get.pulumi.com/x", "http://10.0.0.1/x", "ftp://127.0.0.1/x", "file:///x"]
)
def test_downloads_over_a_network_must_be_https(url: str) -> None:
    with pytest.raises(InstallError, match="must use https"):
        pulumi_cli.download(url, Path("unused"))


def test_an_unknown_platform_is_named() -> None:
    with pytest.raises(InstallError, match="no CLI for Plan9 on mips"):
        pulumi_cli.platform_name("Plan9", "mips")
    assert pulumi_cli.platform_name("Darwin", "arm64") == "darwin-arm64"


@pytest.mark.parametrize(
    ("members", "symlink"),
    [
        ({"pulumi/../../evil": b"x"}, None),
        ({"/etc/evil": b"x"}, None),
        ({"elsewhere/pulumi": b"x"}, None),
        ({"pulumi/pulumi": b"x"}, "pulumi/link"),
    ],
)
def test_an_archive_member_outside_pulumi_or_not_a_file_unpacks_nothing(
    tmp_path: Path, members: dict[str, bytes | None], symlink: str | None
) -> None:
    with pytest.raises(InstallError, match="not unpacked"):
        pulumi_cli.unpack(archive(tmp_path / "a.tar.gz", members, symlink), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unpacking_keeps_the_folder_structure_and_modes(tmp_path: Path) -> None:
    members: dict[str, bytes | None] = {"pulumi": None, "pulumi/pulumi": b"#!/bin/sh\n"}
    pulumi_cli.unpack(archive(tmp_path / "a.tar.gz", members), tmp_path / "out")
    assert (tmp_path / "out" / "pulumi").read_bytes() == b"#!/bin/sh\n"
    assert (tmp_path / "out" / "pulumi").stat().st_mode & 0o111


def test_a_failed_install_keeps_the_previous_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_dir = tmp_path / "build" / "pulumi"
    (install_dir / "bin").mkdir(parents=True)
    (install_dir / "bin" / "pulumi").write_text("old")
    (install_dir / "VERSION").write_text("1.0.0\n")

    def broken_download(url: str, into: Path) -> str:
        into.write_bytes(b"half")
        raise InstallError(f"cannot download {url}: connection reset")

    monkeypatch.setattr(pulumi_cli, "download", broken_download)
    with pytest.raises(InstallError, match="connection reset"):
        pulumi_cli.install("2.0.0", "https://x", "a" * 64, install_dir, "linux-x64")
    assert pulumi_cli.installed_version(install_dir) == "1.0.0"
    assert sorted(p.name for p in install_dir.parent.iterdir()) == ["pulumi"], "no leftovers"
