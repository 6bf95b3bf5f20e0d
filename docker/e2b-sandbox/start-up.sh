#!/usr/bin/env bash
# Start command of the E2B sandbox template (at START_SCRIPT in the image, program/sandbox_image.py).
# E2B runs it once, as root, at the end of the template build; every sandbox resumes from that
# snapshot.
#
#   start-up.sh               mount the bucket (shared storage) or make the mount point wait for
#                             the backend (per-sandbox storage), confine the code user, start
#                             Jupyter and the code-interpreter server as that user (what E2B runs)
#   start-up.sh --mount-only  mount the bucket, then exit with the mount program's status
#   start-up.sh --attach FILE   mount this sandbox's own prefix with the session in FILE (root's,
#                             written by the backend's attach), print the mount's status
#   start-up.sh --detach FILE   unmount it, remove FILE, make the mount point wait again
#
# Untrusted code runs in Jupyter's kernels, so Jupyter runs as the sandbox user (`user`, uid 1000
# on E2B), never as root: the key file is root's alone (0400), root-owned processes' environments
# are closed to other users, and the user loses every way back to root (sudo rules, the sudo group,
# the empty root password E2B leaves, and setuid programs through no_new_privs). The image's
# /etc/e2b-sandbox/code-user says `root` only where a stack chose that (README, sandboxCodeUser).
#
# A failed mount never stops the sandbox: the status file (/run/e2b-s3-mount/<dir>.json) says why,
# and the unmounted mount point refuses writes, so nothing meant for the bucket is lost silently.
set -u

readonly SETTINGS_DIR=/etc/e2b-sandbox
readonly SHARED_CREDENTIALS="$SETTINGS_DIR/credentials.env"
readonly MOUNT_PROGRAM=/usr/lib/e2b-sandbox/s3mount.pyz
readonly CODE_USER_NAME=user
readonly CODE_USER_UID=1000
readonly SERVER_DIR=/root/.server
readonly JUPYTER_STATUS_URL=http://127.0.0.1:8888/api/status
readonly JUPYTER_WAIT_SECONDS=120

log() {
  printf '%(%Y-%m-%dT%H:%M:%S%z)T [start-up] %s\n' -1 "$*" >&2
}

# `user` (the default) or `root`, as the stack baked it; anything else means `user`.
code_user() {
  local chosen=""
  [ -r "$SETTINGS_DIR/code-user" ] && read -r chosen <"$SETTINGS_DIR/code-user"
  if [ "$chosen" = root ]; then
    printf 'root\n'
  else
    printf '%s\n' "$CODE_USER_NAME"
  fi
}

# `shared` (the image carries the key pair) or `per-sandbox` (the backend attaches each sandbox).
storage_mode() {
  local chosen=""
  [ -r "$SETTINGS_DIR/storage" ] && read -r chosen <"$SETTINGS_DIR/storage"
  printf '%s\n' "${chosen:-shared}"
}

# E2B creates the user before the start command runs; a plain `docker run` has none.
ensure_user() {
  local name="$1"
  id -u "$name" >/dev/null 2>&1 && return 0
  useradd --create-home --uid "$CODE_USER_UID" --shell /bin/bash "$name" ||
    log "could not create the user $name"
}

# The mount program with the image's settings, for the code user's files; "$@" adds to them.
mount_program() {
  local command="$1" name="$2" uid gid
  shift 2
  uid="$(id -u "$name")" && gid="$(id -g "$name")" || return 1
  S3_MOUNT_UID="$uid" S3_MOUNT_GID="$gid" python3 "$MOUNT_PROGRAM" "$command" \
    --env-file "$SETTINGS_DIR/sandbox.env" "$@"
}

mount_bucket() {
  local name="$1"
  if [ "$(storage_mode)" = per-sandbox ]; then
    # No key in this image: writes are refused until the backend attaches the sandbox.
    mount_program prepare "$name"
    return
  fi
  mount_program mount "$name" --env-file "$SHARED_CREDENTIALS"
}

# The backend's attach and detach (per-sandbox storage): FILE is root's alone, 0600.
attach() {
  local name="$1" file="$2"
  if [ ! -f "$file" ] || [ "$(stat -c '%u %a' "$file")" != "0 600" ]; then
    log "attach: $file must be a file of root's, mode 0600"
    return 2
  fi
  mount_program mount "$name" --env-file "$file" --print-status
}

detach() {
  local name="$1" file="$2" status=0
  mount_program unmount "$name" || status=$?
  rm -f -- "$file"
  mount_program prepare "$name" || :
  mount_program status "$name" || :
  return "$status"
}

# Every way from the user back to root that E2B's image setup leaves: its sudo rules, the sudo
# group, and the empty root password (su). sudo's policy is replaced whole, never edited: a rule
# can name the user in many forms (%group, #uid, an alias, ALL), and a parser of rule text misses
# some. Root keeps its rule; nobody else has one. setuid programs are closed by no_new_privs below.
readonly ROOT_ONLY_SUDOERS='Defaults env_reset
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
root ALL=(ALL:ALL) ALL'

confine() {
  local name="$1" group
  if [ -e /etc/sudoers ] || [ -d /etc/sudoers.d ]; then
    if ! { (umask 0337 && printf '%s\n' "$ROOT_ONLY_SUDOERS" >/etc/sudoers.new) &&
      mv -f /etc/sudoers.new /etc/sudoers; }; then
      log "could not replace /etc/sudoers"
    fi
    find /etc/sudoers.d -mindepth 1 -delete 2>/dev/null || :
  fi
  for group in sudo wheel admin; do
    gpasswd -d "$name" "$group" >/dev/null 2>&1 || :
  done
  passwd -l root >/dev/null 2>&1 || log "could not lock root's password"
  passwd -l "$name" >/dev/null 2>&1 || log "could not lock $name's password"
}

# The user gets its own copies of Jupyter's and IPython's settings; /root stays root's.
prepare_home() {
  local name="$1" home source copied
  home="$(getent passwd "$name" | cut -d: -f6)"
  # Only what is copied changes owner: a chown -R of the whole home would walk into a bucket
  # mounted under it (a mount dir such as /home/user/data) and rewrite every object.
  chown "$name:" "$home"
  for source in /root/.jupyter /root/.ipython /root/.config/matplotlib; do
    [ -d "$source" ] || continue
    copied="${source#/root/}"
    mkdir -p "$home/$copied"
    cp -a --no-clobber "$source/." "$home/$copied/"
    chown -R "$name:" "$home/${copied%%/*}"
  done
}

# Runs a command as the code user: no supplementary privileges, no way to gain any (no_new_privs
# makes sudo, su and every setuid program powerless), and an environment of its own.
as_code_user() {
  local name="$1" home
  shift
  if [ "$name" = root ]; then
    "$@"
    return
  fi
  home="$(getent passwd "$name" | cut -d: -f6)"
  setpriv --reuid="$name" --regid="$(id -g "$name")" --init-groups --no-new-privs --reset-env \
    env HOME="$home" USER="$name" LOGNAME="$name" LANG=C.UTF-8 \
    PATH=/usr/local/bin:/usr/bin:/bin MATPLOTLIBRC="$home/.config/matplotlib/.matplotlibrc" "$@"
}

jupyter_answers() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "$JUPYTER_STATUS_URL" >/dev/null 2>&1
}

start_code_interpreter() {
  local name="$1" waited=0
  until jupyter_answers; do
    if ((waited >= JUPYTER_WAIT_SECONDS)); then
      log "Jupyter did not answer within $JUPYTER_WAIT_SECONDS s; the code-interpreter server is not started"
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  cd "$SERVER_DIR" || return 1
  as_code_user "$name" "$SERVER_DIR/.venv/bin/uvicorn" main:app --host 0.0.0.0 --port 49999 \
    --workers 1 --no-access-log --no-use-colors --timeout-keep-alive 640
}

main() {
  local mount_only=false name
  name="$(code_user)"
  case "${1:-}" in
    --mount-only) mount_only=true ;;
    --attach | --detach)
      if [ "$#" -ne 2 ]; then
        log "usage: start-up.sh $1 FILE"
        return 2
      fi
      "${1#--}" "$name" "$2"
      return
      ;;
    "") ;;
    *)
      log "unknown argument '$1' (usage: start-up.sh [--mount-only | --attach FILE | --detach FILE])"
      return 2
      ;;
  esac
  ensure_user "$name"
  if ! mount_bucket "$name"; then
    "$mount_only" && return 1
    log "the sandbox starts without the bucket; see /run/e2b-s3-mount/"
  fi
  "$mount_only" && return 0
  if [ "$name" = root ]; then
    log "agent code runs as root (sandboxCodeUser: root): it can read the bucket's key"
  else
    confine "$name"
    prepare_home "$name"
  fi
  log "starting Jupyter and the code-interpreter server as $name"
  start_code_interpreter "$name" &
  cd "$(getent passwd "$name" | cut -d: -f6)" || cd /
  as_code_user "$name" jupyter server --IdentityProvider.token="" >/dev/null 2>&1
}

main "$@"
