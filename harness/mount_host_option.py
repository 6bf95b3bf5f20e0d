"""A pytest plugin that runs the mount tests against one s3fs host, including one the suite does
not run by default (Debian testing's s3fs, to see whether a flag keeps the contract there too):

    python -m pytest -p harness.mount_host_option --mount-host debian-testing \\
        tests/integration/test_mount_contract.py

Without --mount-host it changes nothing. With it, every test that takes the `mount_host` fixture
gets that host instead of the fixture's own list (the chroot is made once, before collection).
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from harness.bucket_mounts import HOST_RECIPES, Host, mount_host

_chroots = ExitStack()
_HOST = pytest.StashKey[Host]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--mount-host", choices=sorted(HOST_RECIPES), help="run the mount tests on this host only"
    )


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("--mount-host")
    if name:
        config.stash[_HOST] = _chroots.enter_context(mount_host(name))


def pytest_unconfigure() -> None:
    _chroots.close()


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Before the fixture's own parametrization, which then leaves this name alone.
    host = metafunc.config.stash.get(_HOST, None)
    if host is not None and "mount_host" in metafunc.fixturenames:
        metafunc.parametrize("mount_host", [host], ids=[host.name], scope="session")
