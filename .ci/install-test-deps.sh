#!/usr/bin/env bash
# Installs what a test layer needs, and only that. Safe to run again: it installs what is missing.
#
#   install-test-deps.sh unit   .venv from requirements-unit.txt: no root, no apt package; runs
#                               wherever Python 3.11+ does (Debian, Ubuntu, macOS)
#   install-test-deps.sh repo   .venv from requirements-dev.txt (linters, moto, compose) and
#                               .venv-checkov (checkov pins a boto3 that moto cannot share)
#   install-test-deps.sh all    the apt packages behind the real FUSE mounts and image builds
#                               (Debian or Ubuntu, as root), then what `repo` installs
#   install-test-deps.sh bench  what `all` installs, and the programs the WAN benchmark runs in
#                               the mount (git, rsync, sqlite3)
#
# The unit path keeps to what macOS has too (bash 3.2, cksum, no dpkg).
set -euo pipefail

readonly APT_PACKAGES=(
  s3fs fuse3 rclone podman buildah runc fuse-overlayfs uidmap debootstrap debian-archive-keyring
  python3-venv
)
readonly BENCH_APT_PACKAGES=(git rsync sqlite3)
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
PYTHON3="${PYTHON3:-python3}"
readonly PYTHON3

log() { printf '[install-test-deps] %s\n' "$*" >&2; }
fail() {
  log "error: $*"
  exit 1
}

missing_apt_packages() {
  local package
  for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      printf '%s\n' "$package"
    fi
  done
}

install_apt_packages() {
  command -v dpkg-query >/dev/null ||
    fail "the integration tests need Debian or Ubuntu (apt). 'make test-unit' runs anywhere"
  local -a missing
  mapfile -t missing < <(missing_apt_packages "$@")
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    fail "missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]} (or run as root). 'make test-unit' needs none of them"
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

check_python() {
  command -v "$PYTHON3" >/dev/null ||
    fail "no $PYTHON3 on PATH: install Python 3.11 or newer, or pass PYTHON3=/path/to/python3"
  "$PYTHON3" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "$("$PYTHON3" --version 2>&1) is too old: the project needs Python 3.11 or newer; pass PYTHON3=python3.12 (or another 3.11+)"
  "$PYTHON3" -c 'import ensurepip' 2>/dev/null ||
    fail "$PYTHON3 cannot make virtualenvs (no ensurepip): on Debian or Ubuntu, sudo apt-get install python3-venv"
}

# A requirements file and every file it includes with -r, one a line.
requirement_files() {
  local file="$1" included
  printf '%s\n' "$file"
  while read -r included; do
    requirement_files "$(dirname "$file")/$included"
  done < <(sed -n 's/^-r[[:space:]]*//p' "$file")
}

# A virtualenv gets a requirements file again only when it (or a file it includes) changed.
install_venv() {
  local venv="$1" requirements="$2"
  local name digest stamp
  name="$(basename "$requirements" .txt)"
  digest="$(requirement_files "$requirements" | while read -r file; do cat "$file"; done | cksum | cut -d' ' -f1)"
  stamp="$venv/.installed-$name-$digest"
  if [ -f "$stamp" ]; then
    return 0
  fi
  log "installing $requirements into $venv"
  [ -x "$venv/bin/python" ] || "$PYTHON3" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q -r "$requirements"
  rm -f "$venv/.installed-$name-"*
  touch "$stamp"
}

main() {
  local layer="${1:-all}"
  cd "$REPO_ROOT"
  case "$layer" in
    unit)
      check_python
      install_venv .venv requirements-unit.txt
      ;;
    repo | all | bench)
      case "$layer" in
        all) install_apt_packages "${APT_PACKAGES[@]}" ;;
        bench) install_apt_packages "${APT_PACKAGES[@]}" "${BENCH_APT_PACKAGES[@]}" ;;
      esac
      check_python
      install_venv .venv requirements-dev.txt
      install_venv .venv-checkov requirements-checkov.txt
      ;;
    *) fail "unknown layer '$layer': pass unit, repo, all or bench" ;;
  esac
}

main "$@"
