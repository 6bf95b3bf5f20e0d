"""The Pulumi CLI for the local stack: the user's own on PATH, or else the version
requirements.txt pins for the SDK (one home for it), fetched into build/pulumi/bin/.

Before anything is unpacked, the archive's SHA-256 is checked against Pulumi's published
checksums file for that version (pulumi-<version>-checksums.txt, next to the archives on
get.pulumi.com, fetched over https), or against PULUMI_CLI_SHA256 when the user pins it. The
checksums file guards against a corrupt or truncated download and a tampered mirror; against a
compromised get.pulumi.com only a pin learned elsewhere helps. A failed download or check leaves
nothing behind: the CLI is unpacked beside its place and renamed into it.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import platform
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

PROJECT_DIR = Path(__file__).resolve().parent.parent
REQUIREMENTS = PROJECT_DIR / "requirements.txt"
# bin/ holds the CLI (the Makefile puts it first on PATH), VERSION which one it is.
INSTALL_DIR = PROJECT_DIR / "build" / "pulumi"
DOWNLOADS = "https://get.pulumi.com/releases/sdk"
# Where the archives and checksums come from instead (a mirror; the tests' stand-in).
DOWNLOADS_VARIABLE = "PULUMI_DOWNLOAD_URL"
# The archive's SHA-256 for this machine, pinned by the user: then no checksums file is read.
CHECKSUM_VARIABLE = "PULUMI_CLI_SHA256"
# Pulumi's names for the platforms it ships the CLI for.
PLATFORMS = {
    ("Linux", "x86_64"): "linux-x64",
    ("Linux", "aarch64"): "linux-arm64",
    ("Darwin", "x86_64"): "darwin-x64",
    ("Darwin", "arm64"): "darwin-arm64",
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class InstallError(Exception):
    """Why the CLI could not be installed; nothing was."""


def pinned_version(requirements: Path = REQUIREMENTS) -> str:
    """The Pulumi SDK version requirements.txt pins: the CLI's version too."""
    found = re.search(r"^pulumi==(\S+)\s*$", requirements.read_text(encoding="utf-8"), re.M)
    if found is None:
        raise InstallError(f"{requirements} pins no `pulumi==VERSION`")
    return found[1]


def platform_name(system: str | None = None, machine: str | None = None) -> str:
    system, machine = system or platform.system(), machine or platform.machine()
    name = PLATFORMS.get((system, machine))
    if name is None:
        raise InstallError(f"Pulumi ships no CLI for {system} on {machine}")
    return name


def archive_name(version: str, platform_id: str) -> str:
    return f"pulumi-v{version}-{platform_id}.tar.gz"


def checksums_name(version: str) -> str:
    return f"pulumi-{version}-checksums.txt"


def published_checksum(checksums: str, archive: str) -> str:
    """The archive's SHA-256 from a checksums file (`<sha256>  <file name>` lines)."""
    for line in checksums.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("*") == archive and _SHA256.fullmatch(fields[0]):
            return fields[0]
    raise InstallError(f"the checksums file lists no {archive}")


def _checked_url(url: str) -> str:
    """https, or http to this machine only (a local mirror or stand-in): never plain http
    across a network, where anyone on the way could swap the archive and its checksum."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return url
    if parts.scheme == "http":
        host = parts.hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url
    raise InstallError(f"{url}: downloads must use https (http only from this machine)")


def _open(url: str) -> http.client.HTTPResponse:
    try:
        # The scheme is checked above: https, or http to a loopback address.
        response: http.client.HTTPResponse = urllib.request.urlopen(_checked_url(url), timeout=60)  # noqa: S310
        return response
    except urllib.error.HTTPError as error:
        raise InstallError(f"cannot download {url}: the server answered {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise InstallError(f"cannot download {url}: {reason}") from None


def expected_checksum(downloads: str, version: str, archive: str, pinned: str | None) -> str:
    if pinned:
        if not _SHA256.fullmatch(pinned.strip().lower()):
            raise InstallError(f"{CHECKSUM_VARIABLE} is not a SHA-256 (64 hex digits)")
        return pinned.strip().lower()
    with _open(f"{downloads}/{checksums_name(version)}") as response:
        text = response.read(1 << 20).decode("utf-8", errors="replace")
    return published_checksum(text, archive)


def download(url: str, into: Path) -> str:
    """Streams url into the file `into`; returns its SHA-256."""
    digest = hashlib.sha256()
    try:
        with _open(url) as response, into.open("wb") as file:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                file.write(chunk)
    except OSError as error:
        raise InstallError(
            f"cannot download {url} into {into}: {error.strerror or error}"
        ) from None
    return digest.hexdigest()


def unpack(archive: Path, into: Path) -> None:
    """The archive's pulumi/ folder, as regular files and folders only, into `into`."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                path = PurePosixPath(member.name)
                if (
                    path.is_absolute()
                    or ".." in path.parts
                    or path.parts[:1] != ("pulumi",)
                    or not (member.isfile() or member.isdir())
                ):
                    raise InstallError(f"the archive holds {member.name!r}: not unpacked")
            for member in members:
                target = into.joinpath(*PurePosixPath(member.name).parts[1:])
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file, checked above
                with source, target.open("wb") as file:
                    shutil.copyfileobj(source, file)
                target.chmod(0o755 if member.mode & 0o111 else 0o644)
    except (tarfile.TarError, EOFError) as error:
        raise InstallError(f"the archive cannot be unpacked: {error}") from None


def installed_version(install_dir: Path = INSTALL_DIR) -> str | None:
    try:
        version = (install_dir / "VERSION").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return version if (install_dir / "bin" / "pulumi").is_file() else None


def install(
    version: str,
    downloads: str = DOWNLOADS,
    pinned: str | None = None,
    install_dir: Path = INSTALL_DIR,
    platform_id: str | None = None,
) -> Path:
    """Fetches, checks and unpacks the CLI; returns the directory that holds `pulumi`."""
    archive = archive_name(version, platform_id or platform_name())
    downloads = downloads.rstrip("/")
    expected = expected_checksum(downloads, version, archive, pinned)
    install_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pulumi-", dir=install_dir.parent))
    try:
        got = download(f"{downloads}/{archive}", work / archive)
        if got != expected:
            source = CHECKSUM_VARIABLE if pinned else checksums_name(version)
            raise InstallError(
                f"{archive} does not match its checksum in {source} (expected {expected}, got "
                f"{got}): nothing was installed"
            )
        unpack(work / archive, work / "new" / "bin")
        if not (work / "new" / "bin" / "pulumi").is_file():
            raise InstallError(f"{archive} holds no pulumi/pulumi: nothing was installed")
        (work / "new" / "VERSION").write_text(f"{version}\n", encoding="utf-8")
        if install_dir.exists():
            install_dir.rename(work / "old")
        (work / "new").rename(install_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return install_dir / "bin"


def ensure(version: str, install_dir: Path = INSTALL_DIR) -> tuple[Path, bool]:
    """The directory of the `pulumi` to use, and whether it was installed just now: the project's
    own when it is this version, else the user's own on PATH, else a new install."""
    if installed_version(install_dir) == version:
        return install_dir / "bin", False
    ours = str(install_dir / "bin")
    elsewhere = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p != ours
    )
    theirs = shutil.which("pulumi", path=elsewhere)
    if theirs is not None:
        return Path(theirs).parent, False
    downloads = os.environ.get(DOWNLOADS_VARIABLE) or DOWNLOADS
    return install(version, downloads, os.environ.get(CHECKSUM_VARIABLE), install_dir), True
