#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine: the apt packages behind the
# real FUSE mounts and image builds, and the two virtualenvs (.venv for the program and its tests,
# .venv-checkov because checkov pins a boto3 that moto cannot share). Safe to run again: it only
# installs what is missing.
set -euo pipefail

readonly APT_PACKAGES=(s3fs fuse3 rclone podman buildah runc fuse-overlayfs uidmap debootstrap)
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT

log() { printf '[install-test-deps] %s\n' "$*" >&2; }

missing_apt_packages() {
  local package
  for package in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      printf '%s\n' "$package"
    fi
  done
}

install_apt_packages() {
  local -a missing
  mapfile -t missing < <(missing_apt_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]}"
    log "install them with: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A virtualenv is rebuilt only when its requirements file changed since the last install.
install_venv() {
  local venv="$1" requirements="$2"
  local digest stamp
  digest="$(cat "$requirements" "$REPO_ROOT/requirements.txt" | sha256sum | cut -c1-16)"
  stamp="$venv/.installed-$digest"
  if [ -f "$stamp" ]; then
    return 0
  fi
  log "installing $requirements into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q -r "$requirements"
  rm -f "$venv"/.installed-*
  touch "$stamp"
}

main() {
  cd "$REPO_ROOT"
  install_apt_packages
  install_venv .venv requirements-dev.txt
  install_venv .venv-checkov requirements-checkov.txt
}

main "$@"
