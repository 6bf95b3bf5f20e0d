# E2B sandbox image: the code-interpreter base plus S3 mount clients and a start-up script that
# mounts the stack's bucket.
#
# Layer order is the point of this file. Everything that does not depend on the credentials comes
# first (apt packages, Python packages, pinned client downloads, the start-up script); the
# credential build args are declared only before the last RUN. A key rotation therefore re-runs
# that one step and nothing else, and the secret appears in exactly one image history entry.
#
# Build args are recorded in the image history: anyone who can pull this image can read the key.
# That is why the identity is scoped to one bucket, the registry is private and keys rotate.

# e2bdev/code-interpreter is only published as `latest` (e2b-dev/code-interpreter#150), so the
# default pins a digest of it (`latest` as pushed on 2026-07-23); pass BASE_IMAGE to move on.
ARG BASE_IMAGE=e2bdev/code-interpreter@sha256:442ec598ec8ca4ed01b5bb24ad6e4f2e6ac80fd88f1564ff9a01e82da18e1e3b
FROM ${BASE_IMAGE}

# The base's template may end with `USER user`; apt, the root-only credentials file and the
# FUSE mount in the start command all need root, so the image stays root (as E2B runs it).
# hadolint ignore=DL3002
USER root

# pipefail: a failing command on the left of a pipe fails the step.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Mount clients (s3fs, rclone, FUSE) and the tools start-up.sh uses. Versions come from the base
# image's Debian release: exact apt pins would break on every security update of that release.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        bash ca-certificates coreutils curl fuse3 jq rclone s3fs util-linux \
    && rm -rf /var/lib/apt/lists/* \
    && { grep -qx 'user_allow_other' /etc/fuse.conf 2>/dev/null \
        || echo 'user_allow_other' >> /etc/fuse.conf; }

# Python packages for the sandbox's agent code, pinned in requirements.txt.
COPY requirements.txt /tmp/e2b-sandbox-requirements.txt
RUN pip install --no-cache-dir -r /tmp/e2b-sandbox-requirements.txt \
    && rm /tmp/e2b-sandbox-requirements.txt

# Mount clients that Debian does not ship, each pinned by URL and SHA-256 (checked in the same
# RUN, before the file is made executable). An empty <CLIENT>_URL leaves that client out.
# Related build args share one ARG instruction: each instruction is a build step with its own
# cache lookup, and fewer steps keep a rebuild fast. (Multi-name ARG and COPY --chmod need
# BuildKit, the builder of Docker 23+ and pulumi-docker, or podman/buildah.)
ARG GOOFYS_URL=https://github.com/kahing/goofys/releases/download/v0.24.0/goofys \
    GOOFYS_SHA256=729688b6bc283653ea70f1b2b6406409ec1460065161c680f3b98b185d4bf364 \
    GEESEFS_URL=https://github.com/yandex-cloud/geesefs/releases/download/v0.43.0/geesefs-linux-amd64 \
    GEESEFS_SHA256=bfbf4ee48c06f9d868f7f5828ec4766763ace3e137ec2806e731ac063d5535bb
RUN install_pinned() { \
        name="$1"; url="$2"; sha256="$3"; target="/usr/local/bin/$1"; \
        if [ -z "$url" ]; then echo "skipping $name: no URL"; return 0; fi; \
        if [ -z "$sha256" ]; then echo "error: $name has a URL but no SHA-256" >&2; return 1; fi; \
        curl -fsSL --retry 3 -o "$target.download" "$url" || return 1; \
        if ! echo "$sha256  $target.download" | sha256sum -c -; then \
            rm -f "$target.download"; return 1; \
        fi; \
        install -m 0755 "$target.download" "$target" && rm "$target.download"; \
    }; \
    install_pinned goofys "$GOOFYS_URL" "$GOOFYS_SHA256" \
    && install_pinned geesefs "$GEESEFS_URL" "$GEESEFS_SHA256"

# E2B's start command (e2b.toml start_cmd) mounts the bucket, then starts the code interpreter.
COPY --chmod=0755 start-up.sh /root/.jupyter/start-up.sh
WORKDIR /workspace

# Non-secret settings, visible to the agent code. Declared here, after the heavy layers, so a
# change re-runs only what follows.
ARG AWS_REGION=us-east-1 \
    S3_BUCKET_NAME \
    S3_MOUNT_DIR=/opt/sentient
ENV AWS_REGION=${AWS_REGION} \
    S3_BUCKET_NAME=${S3_BUCKET_NAME} \
    S3_MOUNT_DIR=${S3_MOUNT_DIR}

# The credentials: used by the one RUN below only, never put into ENV. start-up.sh reads the file
# (root only) for every setting its environment does not provide. An empty S3_ENDPOINT_URL means
# real AWS.
# DL3064 warns that ARG values are recorded in history; accepted for the key pair, for the reasons
# in the header of this file (one bucket, private registry, rotation).
# hadolint ignore=DL3064
ARG AWS_ACCESS_KEY_ID \
    AWS_SECRET_ACCESS_KEY \
    S3_ENDPOINT_URL=""
# A value with a line break would corrupt the KEY=value file, hence the line count check.
RUN : "${AWS_ACCESS_KEY_ID:?build arg AWS_ACCESS_KEY_ID is required}" \
        "${AWS_SECRET_ACCESS_KEY:?build arg AWS_SECRET_ACCESS_KEY is required}" \
        "${S3_BUCKET_NAME:?build arg S3_BUCKET_NAME is required}" \
    && install -d -m 0700 -o root -g root /etc/e2b-sandbox \
    && umask 0377 \
    && printf '%s=%s\n' \
        AWS_ACCESS_KEY_ID "$AWS_ACCESS_KEY_ID" \
        AWS_SECRET_ACCESS_KEY "$AWS_SECRET_ACCESS_KEY" \
        AWS_REGION "$AWS_REGION" \
        S3_BUCKET_NAME "$S3_BUCKET_NAME" \
        S3_MOUNT_DIR "$S3_MOUNT_DIR" \
        S3_ENDPOINT_URL "$S3_ENDPOINT_URL" \
        > /etc/e2b-sandbox/credentials.env \
    && chown root:root /etc/e2b-sandbox/credentials.env \
    && chmod 0400 /etc/e2b-sandbox/credentials.env \
    && if [ "$(wc -l < /etc/e2b-sandbox/credentials.env)" -ne 6 ]; then \
        echo "error: a build arg holds a line break" >&2; rm -f /etc/e2b-sandbox/credentials.env; exit 1; \
    fi

# checkov:skip=CKV_DOCKER_2: E2B boots the image as a microVM and ignores HEALTHCHECK; start-up.sh writes its own status file
# checkov:skip=CKV_DOCKER_3: the start command must run as root to mount the bucket with FUSE and read the root-only credentials
# checkov:skip=CKV_DOCKER_7: checkov cannot resolve FROM ${BASE_IMAGE}; its default pins a digest, never latest (tests/unit/test_dockerfile_lint.py)
# checkov:skip=CKV_DOCKER_8: the start command must run as root to mount the bucket with FUSE (see USER root above)
