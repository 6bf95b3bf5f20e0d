#!/usr/bin/env bash
# Runs a command, as root, in a Debian 12 root file system on a host that is not Debian 12 (such
# as GitHub's Ubuntu runners), with this checkout at the same path inside:
#
#   sudo bash .ci/debian12-root.sh make test
#
# The root is made once with debootstrap, its Release file checked against Debian's archive
# keyring (debian-archive-keyring, which Ubuntu ships too; debootstrap would otherwise go on
# without a check), and kept in $CI_ROOT_DIR for the next run. The command runs in a mount
# namespace of its own whose root is that file system (pivot_root, as a container's): it sees the
# host's devices, cgroups, network and FUSE, its own /run and /tmp, and no securityfs (the
# host's AppArmor policies are the runner's, not the suite's: the machines the suite describes
# have none). Nothing it mounts reaches the host, and it all goes when the command ends.
set -euo pipefail

readonly SUITE=bookworm
readonly MIRROR=http://deb.debian.org/debian
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# What `make test` needs before it installs the rest itself (.ci/install-test-deps.sh).
readonly PACKAGES=make,python3,python3-venv,ca-certificates,curl
CI_ROOT_DIR="${CI_ROOT_DIR:-/var/tmp/e2b-sandbox-ci/$SUITE}"
readonly CI_ROOT_DIR
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
# Variables that reach the command inside (the rest of the caller's environment does not).
readonly PASSED_ENV=(CI GITHUB_ACTIONS TERM SSL_CERT_FILE PIP_CERT PIP_INDEX_URL PIP_EXTRA_INDEX_URL http_proxy https_proxy no_proxy)

log() { printf '[debian12-root] %s\n' "$*" >&2; }
fail() {
  log "error: $*"
  exit 1
}

host_tools() {
  local -a missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ -f "$KEYRING" ] || missing+=(debian-archive-keyring)
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null ||
    fail "this host needs ${missing[*]} and has no apt-get: install them, or run the suite on Debian 12"
  log "installing ${missing[*]} on the host"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The recipe, recorded in the root: a root made from another recipe is made again.
recipe() { printf '%s %s %s %s\n' "$SUITE" "$MIRROR" "$PACKAGES" "${SSL_CERT_FILE:+custom-ca}"; }

make_root() {
  if [ "$(cat "$CI_ROOT_DIR/.ci-recipe" 2>/dev/null)" = "$(recipe)" ]; then
    return 0
  fi
  host_tools
  rm -rf --one-file-system "$CI_ROOT_DIR"
  mkdir -p "$(dirname "$CI_ROOT_DIR")"
  log "making a Debian 12 root in $CI_ROOT_DIR (debootstrap, about a minute)"
  local partial="$CI_ROOT_DIR.partial"
  rm -rf --one-file-system "$partial"
  debootstrap --variant=minbase --force-check-gpg --keyring="$KEYRING" \
    --include="$PACKAGES" "$SUITE" "$partial" "$MIRROR" >"$partial.log" 2>&1 ||
    fail "debootstrap failed; its log: $partial.log ($(tail -n 1 "$partial.log"))"
  if [ -n "${SSL_CERT_FILE:-}" ]; then
    # A network that re-signs TLS: the root's pip and apt must trust the same CA as the host.
    cp "$SSL_CERT_FILE" "$partial/usr/local/share/ca-certificates/host-ca.crt"
    chroot "$partial" update-ca-certificates >/dev/null 2>&1 || fail "update-ca-certificates failed in the root"
  fi
  recipe >"$partial/.ci-recipe"
  mv "$partial" "$CI_ROOT_DIR"
}

# Inside `unshare --mount --propagation private`: the root becomes the namespace's root, as a
# container's does. A plain chroot would leave the host's as the namespace's root, and runc's
# exec, which enters a container through its namespace's root, would then look for the
# container's files on the host (`podman exec` fails so).
enter_root() {
  local -a environment=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
  local name
  for name in "${PASSED_ENV[@]}"; do
    case "$name=${!name:-}" in
      *=) ;;
      # The host's CA is in the root's own bundle (make_root).
      SSL_CERT_FILE=* | PIP_CERT=*) environment+=("$name=/etc/ssl/certs/ca-certificates.crt") ;;
      *) environment+=("$name=${!name}") ;;
    esac
  done
  mount --bind "$CI_ROOT_DIR" "$CI_ROOT_DIR"
  mount --rbind /dev "$CI_ROOT_DIR/dev"
  mount -t proc proc "$CI_ROOT_DIR/proc"
  mount -t sysfs sysfs "$CI_ROOT_DIR/sys"
  mount --rbind /sys/fs/cgroup "$CI_ROOT_DIR/sys/fs/cgroup"
  mount -t tmpfs -o mode=0755 tmpfs "$CI_ROOT_DIR/run"
  mkdir -p "$CI_ROOT_DIR$REPO_ROOT" "$CI_ROOT_DIR/.host"
  mount --bind "$REPO_ROOT" "$CI_ROOT_DIR$REPO_ROOT"
  cat /etc/resolv.conf >"$CI_ROOT_DIR/etc/resolv.conf"
  cd "$CI_ROOT_DIR"
  pivot_root . .host
  cd /
  umount --lazy /.host
  exec /usr/bin/env -i --chdir="$REPO_ROOT" "${environment[@]}" "$@"
}

main() {
  if [ "${1:-}" = --enter ]; then
    shift
    enter_root "$@"
  fi
  [ "$#" -gt 0 ] || fail "pass the command to run inside, e.g. make test"
  [ "$(id -u)" -eq 0 ] || fail "a root file system needs root: run it with sudo"
  make_root
  exec unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" --enter "$@"
}

main "$@"
