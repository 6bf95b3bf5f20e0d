#!/usr/bin/env bash
# Runs a command, as root, in a Debian 12 root file system on a host that is not Debian 12 (such
# as GitHub's Ubuntu runners), with this checkout at the same path inside:
#
#   sudo bash .ci/debian12-root.sh make test
#
# The root is made once with debootstrap, its Release file checked against Debian's archive
# keyring (debian-archive-keyring, which Ubuntu ships too; debootstrap would otherwise go on
# without a check), and kept in $CI_ROOT_DIR for the next run. Inside it sees the host's
# devices, cgroups, network and FUSE, its own /run and /tmp, and no securityfs: the host's
# AppArmor policies are the runner's, not the suite's (the machines the suite describes have
# none). Everything mounted for it is taken down when the command ends.
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

# The directory itself (bound onto itself) and everything mounted inside, deepest first.
mounts_below() {
  local directory="$1"
  awk -v dir="$directory" '$5 == dir || index($5, dir "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_all() {
  local point
  while read -r point; do
    umount --lazy "$point" 2>/dev/null || true
  done < <(mounts_below "$CI_ROOT_DIR")
}

make_root() {
  if [ "$(cat "$CI_ROOT_DIR/.ci-recipe" 2>/dev/null)" = "$(recipe)" ]; then
    return 0
  fi
  host_tools
  unmount_all
  [ -z "$(mounts_below "$CI_ROOT_DIR")" ] || fail "$CI_ROOT_DIR still has mounts inside; unmount them first"
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

# The root is a mount point of its own (podman makes "/" private, which only a mount point can
# be), private so that what the suite mounts inside stays there. Bind mounts of the host's are
# slaves: unmounting them here never reaches the host's own.
mount_root() {
  mkdir -p "$CI_ROOT_DIR$REPO_ROOT"
  mount --bind "$CI_ROOT_DIR" "$CI_ROOT_DIR"
  mount --make-private "$CI_ROOT_DIR"
  mount --rbind /dev "$CI_ROOT_DIR/dev"
  mount --make-rslave "$CI_ROOT_DIR/dev"
  mount -t proc proc "$CI_ROOT_DIR/proc"
  mount -t sysfs sysfs "$CI_ROOT_DIR/sys"
  mount --rbind /sys/fs/cgroup "$CI_ROOT_DIR/sys/fs/cgroup"
  mount --make-rslave "$CI_ROOT_DIR/sys/fs/cgroup"
  mount -t tmpfs -o mode=0755 tmpfs "$CI_ROOT_DIR/run"
  mount --bind "$REPO_ROOT" "$CI_ROOT_DIR$REPO_ROOT"
  cat /etc/resolv.conf >"$CI_ROOT_DIR/etc/resolv.conf"
}

run_inside() {
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
  chroot "$CI_ROOT_DIR" /usr/bin/env -i --chdir="$REPO_ROOT" "${environment[@]}" "$@"
}

main() {
  [ "$#" -gt 0 ] || fail "pass the command to run inside, e.g. make test"
  [ "$(id -u)" -eq 0 ] || fail "a root file system needs root: run it with sudo"
  make_root
  trap unmount_all EXIT
  mount_root
  run_inside "$@"
}

main "$@"
