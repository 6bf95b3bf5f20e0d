"""Real parts that run on this machine, for the integration tests and the benchmarks alike: moto
servers, a WAN latency proxy, Debian chroots, real FUSE mounts of the mount program, podman builds
and containers, Docker Compose v2 on podman's socket."""
