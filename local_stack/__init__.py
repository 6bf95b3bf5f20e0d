"""The developer's machine: what `make up`, `make preview` and `make down` need before Pulumi
runs, and that make sets up for the user where it can: the pinned Pulumi CLI (fetched into
build/pulumi/, its checksum verified) and a container engine (a Docker engine that answers, or
podman's Docker-compatible socket). What it cannot install, it names with the command that does.

Standard library only: it runs with the machine's python3, before the project's virtualenv exists.
"""
