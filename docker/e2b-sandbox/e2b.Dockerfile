# E2B sandbox image: the code-interpreter base, s3fs, the mount program and the start command that
# mounts the stack's bucket and starts the servers as the sandbox user.
#
# Layer order is the point of this file. Everything that does not depend on the stack comes first
# (apt packages, Python packages, the programs); then the bucket's settings; the key pair comes
# last, used by one RUN only. A key rotation re-runs that one step, and the secret appears in
# exactly one image history entry.
#
# Build args are recorded in the image history: anyone who can pull this image can read the key.
# That is why the identity is scoped to one bucket, the registry is private and keys rotate.

# e2bdev/code-interpreter is only published as `latest` (e2b-dev/code-interpreter#150), so the
# default pins a digest of it (`latest` as pushed on 2026-07-23); pass BASE_IMAGE to move on.
ARG BASE_IMAGE=e2bdev/code-interpreter@sha256:442ec598ec8ca4ed01b5bb24ad6e4f2e6ac80fd88f1564ff9a01e82da18e1e3b

# The mount program's package (s3mount/, standard library only) as the one file it ships as: a
# zipapp, built by the package itself (python3 -m s3mount.build). The build context is the project.
FROM ${BASE_IMAGE} AS mount-program
WORKDIR /build
COPY s3mount s3mount
RUN python3 -m s3mount.build s3mount.pyz

FROM ${BASE_IMAGE}

# The base's template may end with `USER user`; apt, the root-only key file and the FUSE mount in
# the start command need root. The start command drops to the sandbox user for the servers.
# hadolint ignore=DL3002
USER root

# pipefail: a failing command on the left of a pipe fails the step.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# s3fs is the one client whose close() and fsync() wait for the upload (README, "The shared
# bucket's contract"); util-linux brings setpriv, which starts the servers as the sandbox user.
# Versions come from the base image's Debian release: exact apt pins would break on every
# security update of that release.
# Root mounts the bucket itself and needs no setuid fusermount or user_allow_other: without them
# no other user can mount a FUSE file system of its own, over the bucket or anywhere (issue 21).
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates fuse3 passwd s3fs util-linux \
    && rm -rf /var/lib/apt/lists/* \
    && sed -i '/^[[:space:]]*user_allow_other/d' /etc/fuse.conf \
    && find / -xdev \( -name 'fusermount' -o -name 'fusermount3' \) -type f -perm -4000 \
        -exec chmod u-s {} +

# Python packages for the sandbox's agent code, pinned in requirements.txt.
COPY docker/e2b-sandbox/requirements.txt /tmp/e2b-sandbox-requirements.txt
RUN pip install --no-cache-dir -r /tmp/e2b-sandbox-requirements.txt \
    && rm /tmp/e2b-sandbox-requirements.txt

# The mount program and E2B's start command, at the path the stack's template runs it from
# (START_SCRIPT, program/sandbox_image.py). The code-interpreter server lives under /root: the
# sandbox user may enter /root (0711) and read the server, nothing more.
ARG START_SCRIPT
COPY --from=mount-program --chmod=0755 /build/s3mount.pyz /usr/lib/e2b-sandbox/s3mount.pyz
COPY --chmod=0755 docker/e2b-sandbox/start-up.sh ${START_SCRIPT}
RUN : "${START_SCRIPT:?build arg START_SCRIPT is required (the stack passes it)}" \
    && chmod 0711 /root \
    && if [ -d /root/.server ]; then chmod -R go+rX /root/.server; fi

# The bucket's settings (bucket, region, mount dir, endpoint, freshness) as KEY="value" lines, and
# who runs the agent code (`user`, or `root` where a stack chose it). Not secret: world-readable.
ARG SANDBOX_SETTINGS \
    SANDBOX_CODE_USER=user
RUN : "${SANDBOX_SETTINGS:?build arg SANDBOX_SETTINGS is required (the stack passes it)}" \
    && case "$SANDBOX_CODE_USER" in \
        user | root) ;; \
        *) echo "error: SANDBOX_CODE_USER must be user or root" >&2; exit 1 ;; \
    esac \
    && install -d -m 0755 -o root -g root /etc/e2b-sandbox \
    && printf '%s\n' "$SANDBOX_SETTINGS" > /etc/e2b-sandbox/sandbox.env \
    && printf '%s\n' "$SANDBOX_CODE_USER" > /etc/e2b-sandbox/code-user \
    && chmod 0644 /etc/e2b-sandbox/sandbox.env /etc/e2b-sandbox/code-user

# The key pair, used by this one RUN only and never put into ENV: written to a file only root can
# read, then checked together with the settings by the mount program (a malformed value fails the
# build here, not the sandbox later). With per-sandbox storage (SANDBOX_STORAGE=per-sandbox) the
# image carries no credential at all: the backend attaches each sandbox with a session of its own,
# and a key passed anyway fails the build.
# DL3064 warns that ARG values are recorded in history; accepted for the key pair, for the reasons
# in the header of this file (one bucket, private registry, rotation).
# hadolint ignore=DL3064
ARG SANDBOX_STORAGE=shared \
    SANDBOX_CREDENTIALS
RUN case "$SANDBOX_STORAGE" in \
        shared) : "${SANDBOX_CREDENTIALS:?build arg SANDBOX_CREDENTIALS is required (the stack passes it)}" \
            && (umask 0377 && printf '%s\n' "$SANDBOX_CREDENTIALS" > /etc/e2b-sandbox/credentials.env) \
            && chmod 0400 /etc/e2b-sandbox/credentials.env \
            && set -- --env-file /etc/e2b-sandbox/credentials.env ;; \
        per-sandbox) if [ -n "${SANDBOX_CREDENTIALS:-}" ]; then \
                echo "error: a per-sandbox image carries no key: drop SANDBOX_CREDENTIALS" >&2; exit 1; \
            fi \
            && set -- ;; \
        *) echo "error: SANDBOX_STORAGE must be shared or per-sandbox" >&2; exit 1 ;; \
    esac \
    && printf '%s\n' "$SANDBOX_STORAGE" > /etc/e2b-sandbox/storage \
    && chmod 0644 /etc/e2b-sandbox/storage \
    && python3 /usr/lib/e2b-sandbox/s3mount.pyz settings \
        --env-file /etc/e2b-sandbox/sandbox.env "$@" > /dev/null

# checkov:skip=CKV_DOCKER_2: E2B boots the image as a microVM and ignores HEALTHCHECK; the mount program writes its own status file
# checkov:skip=CKV_DOCKER_3: the start command must run as root to mount the bucket with FUSE; it starts the servers as the sandbox user
# checkov:skip=CKV_DOCKER_7: checkov cannot resolve FROM ${BASE_IMAGE}; its default pins a digest, never latest (tests/unit/test_dockerfile_lint.py)
# checkov:skip=CKV_DOCKER_8: the start command must run as root to mount the bucket with FUSE (see USER root above)
