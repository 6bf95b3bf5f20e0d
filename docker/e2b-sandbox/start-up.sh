#!/usr/bin/env bash
# Start command of the E2B sandbox template (/root/.jupyter/start-up.sh in the image).
#
#   start-up.sh               credentials, bucket mount and check, then Jupyter and the
#                             code-interpreter server (what E2B runs)
#   start-up.sh --mount-only  credentials, bucket mount and check, then exit 0
#
# The bucket appears at S3_MOUNT_DIR for the sandbox user (uid 1000). A failed mount is reported in
# the status files and the log but never stops the sandbox from starting. Every network step is
# bounded. Files written: under $HOME (client logs and caches), the mount directory and the status
# files. Secrets reach the FUSE clients through their environment only, never argv or the log.
#
# Environment (defaults in parentheses; the baked credentials file fills the first six if unset):
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (us-east-1), S3_BUCKET_NAME,
#   S3_MOUNT_DIR (/opt/sentient), S3_ENDPOINT_URL (the clients' AWS default; path-style when set)
#   S3_CREDENTIALS_FILE (/etc/e2b-sandbox/credentials.env), S3_MOUNT_TOOLS (see below)
#   S3_MOUNT_UID, S3_MOUNT_GID (1000), S3_MOUNT_UMASK (0022)
#   S3_MOUNT_TIMEOUT (30, whole mount phase, at most 30), S3_MOUNT_ATTEMPT_TIMEOUT (15, per client)
#   S3_MOUNT_STATUS (/tmp/s3-mount-status.json), S3_MOUNT_METHOD_FILE (/tmp/mount-method)
#   JUPYTER_STATUS_URL (http://127.0.0.1:8888/api/status), JUPYTER_WAIT_TIMEOUT (120 s)
#   CODE_INTERPRETER_DIR (/root/.server)
set -u

readonly ALLOWED_KEYS=(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION S3_BUCKET_NAME S3_MOUNT_DIR
  S3_ENDPOINT_URL)
# Order chosen from measurements: see docs/mount-benchmark.md.
readonly DEFAULT_MOUNT_TOOLS="rclone s3fs geesefs goofys"

log() {
  printf '%(%Y-%m-%dT%H:%M:%S%z)T [start-up] %s\n' -1 "$*" >&2
}

now_ms() {
  local micros="${EPOCHREALTIME//[!0-9]/}"
  printf '%s\n' "$((micros / 1000))"
}

# A whole number from the environment within [low, high], or the default when unset or invalid.
int_setting() {
  local value="$1" default="$2" low="$3" high="$4"
  if [[ "$value" =~ ^[0-9]{1,10}$ ]] && ((10#$value >= low && 10#$value <= high)); then
    printf '%s\n' "$((10#$value))"
  else
    printf '%s\n' "$default"
  fi
}

min() {
  printf '%s\n' "$(($1 < $2 ? $1 : $2))"
}

is_allowed_key() {
  local key="$1" allowed
  for allowed in "${ALLOWED_KEYS[@]}"; do
    [ "$key" = "$allowed" ] && return 0
  done
  return 1
}

# The image bakes a root-only KEY=value file. It is parsed, never sourced, and only known keys are
# taken; a key already set in the environment wins. Values read here are not exported, so the
# servers started later do not inherit secrets they did not already have.
load_baked_credentials() {
  local file="${S3_CREDENTIALS_FILE:-/etc/e2b-sandbox/credentials.env}" line key value
  [ -e "$file" ] || return 0
  if [ ! -r "$file" ]; then
    log "cannot read $file (not root?); using the environment only"
    return 0
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    [[ "$line" =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]] || continue
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    is_allowed_key "$key" || continue
    [ -n "${!key:-}" ] && continue
    printf -v "$key" '%s' "$value"
    export -n "${key:?}"
  done <"$file"
}

read_settings() {
  BUCKET="${S3_BUCKET_NAME:-}"
  MOUNT_DIR="${S3_MOUNT_DIR:-/opt/sentient}"
  REGION="${AWS_REGION:-us-east-1}"
  ENDPOINT="${S3_ENDPOINT_URL:-}"
  ACCESS_KEY="${AWS_ACCESS_KEY_ID:-}"
  SECRET_KEY="${AWS_SECRET_ACCESS_KEY:-}"
  MOUNT_TOOLS="${S3_MOUNT_TOOLS:-$DEFAULT_MOUNT_TOOLS}"
  MOUNT_UID="$(int_setting "${S3_MOUNT_UID:-}" 1000 0 4294967294)"
  MOUNT_GID="$(int_setting "${S3_MOUNT_GID:-}" 1000 0 4294967294)"
  MOUNT_UMASK="${S3_MOUNT_UMASK:-0022}"
  [[ "$MOUNT_UMASK" =~ ^0?[0-7]{3}$ ]] || MOUNT_UMASK=0022
  # The sandbox must start promptly: the mount phase may be shortened, never made longer than 30 s.
  PHASE_TIMEOUT="$(int_setting "${S3_MOUNT_TIMEOUT:-}" 30 1 30)"
  ATTEMPT_TIMEOUT="$(int_setting "${S3_MOUNT_ATTEMPT_TIMEOUT:-}" 15 1 30)"
  METHOD_FILE="${S3_MOUNT_METHOD_FILE:-/tmp/mount-method}"
  STATUS_FILE="${S3_MOUNT_STATUS:-/tmp/s3-mount-status.json}"
  STATE_DIR="${HOME:-/root}/.cache/e2b-s3-mount"
}

# --- status files -----------------------------------------------------------------------------

json_string() {
  local text="$1" out="" char code i
  local LC_ALL=C
  for ((i = 0; i < ${#text}; i++)); do
    char="${text:i:1}"
    case "$char" in
      '"') out+='\"' ;;
      \\) out+="\\\\" ;;
      $'\n') out+='\n' ;;
      $'\r') out+='\r' ;;
      $'\t') out+='\t' ;;
      [[:cntrl:]])
        printf -v code '\\u%04x' "'$char"
        out+="$code"
        ;;
      *) out+="$char" ;;
    esac
  done
  printf '"%s"' "$out"
}

# Replaces a file atomically so readers never see half a status.
write_atomically() {
  local path="$1" content="$2" tmp
  mkdir -p "$(dirname "$path")" 2>/dev/null
  tmp="$(mktemp "$path.XXXXXX" 2>/dev/null)" || {
    log "cannot write $path"
    return 1
  }
  if ! { printf '%s\n' "$content" >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$path"; }; then
    rm -f "$tmp"
    log "cannot write $path"
    return 1
  fi
}

write_status() {
  local ok="$1" tool="$2" error="$3" elapsed_ms="$4" seconds tool_json error_json
  printf -v seconds '%d.%03d' "$((elapsed_ms / 1000))" "$((elapsed_ms % 1000))"
  if [ "$ok" = true ]; then
    tool_json="$(json_string "$tool")"
    error_json=null
    write_atomically "$METHOD_FILE" "$tool"
  else
    tool_json=null
    error_json="$(json_string "$error")"
    write_atomically "$METHOD_FILE" failed
  fi
  write_atomically "$STATUS_FILE" "$(printf '{"ok": %s, "tool": %s, "bucket": %s, "mountDir": %s, "endpoint": %s, "error": %s, "seconds": %s}' \
    "$ok" "$tool_json" "$(json_string "$BUCKET")" "$(json_string "$MOUNT_DIR")" \
    "$(json_string "${ENDPOINT:-default}")" "$error_json" "$seconds")"
}

# --- mount helpers ----------------------------------------------------------------------------

# Reads /proc/self/mountinfo rather than stat()ing the directory, which hangs on a stuck FUSE mount.
is_mounted() {
  local escaped="${MOUNT_DIR// /\\040}" mount_point
  while read -r _ _ _ _ mount_point _; do
    [ "$mount_point" = "$escaped" ] && return 0
  done </proc/self/mountinfo
  return 1
}

unmount_dir() {
  is_mounted || return 0
  fusermount -u -z "$MOUNT_DIR" 2>/dev/null || umount -l "$MOUNT_DIR" 2>/dev/null
  ! is_mounted
}

stop_client() {
  local pid="$1" _
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in 1 2 3 4 5; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null
}

# The endpoint answers HTTP at all (any status): a refused or silent endpoint fails here in
# seconds instead of once per client. Without S3_ENDPOINT_URL the clients' AWS default is used.
check_endpoint() {
  local seconds="$1" rc
  [ -n "$ENDPOINT" ] || return 0
  curl -sS -o /dev/null --connect-timeout "$seconds" --max-time "$seconds" "$ENDPOINT" 2>/dev/null
  rc=$?
  case "$rc" in
    0) return 0 ;;
    7) FAILURE="the endpoint $ENDPOINT refused the connection" ;;
    28) FAILURE="the endpoint $ENDPOINT did not answer within $seconds s" ;;
    6) FAILURE="the endpoint host in $ENDPOINT does not resolve" ;;
    *) FAILURE="the endpoint $ENDPOINT is unreachable (curl exit $rc)" ;;
  esac
  return 1
}

# A person-readable reason from a client's log; client logs never contain the secret. s3fs's
# informational lines echo its options (connect_timeout=...), so only other lines are matched.
explain_failure() {
  local logfile="$1" fallback="$2" errors last_line
  errors="$(grep -v '\[INF\]' "$logfile" 2>/dev/null)"
  if matches "$errors" 'SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied|invalid credentials|Forbidden'; then
    printf 'the endpoint rejected the credentials (access denied)\n'
  elif matches "$errors" 'NoSuchBucket|bucket or key not found|directory not found'; then
    printf 'bucket %s does not exist\n' "$BUCKET"
  elif matches "$errors" 'open /dev/fuse|allow_other only allowed|fusermount.*(denied|not permitted)|Operation not permitted'; then
    printf 'no permission to mount (FUSE needs root, or user_allow_other in /etc/fuse.conf)\n'
  elif matches "$errors" 'connection refused|unable to connect|no such host|timeout|timed out'; then
    printf 'could not reach the endpoint %s\n' "${ENDPOINT:-default}"
  else
    last_line="$(grep -v '^[[:space:]]*$' <<<"$errors" | tail -n 1 | cut -c1-200)"
    printf '%s%s\n' "$fallback" "${last_line:+ ($last_line)}"
  fi
}

matches() {
  grep -qiE -- "$2" <<<"$1"
}

# --- per-client commands ----------------------------------------------------------------------
# Each start_<tool> runs the client in the foreground of a background job (so this script owns
# its pid and can bound it), detached with setsid so it outlives the script.

# Flags (measured in docs/mount-benchmark.md): parallel multipart uploads in 16 MiB parts, and a
# stat cache that also remembers missing names, so lookups do not each cost a request. sigv4
# only: after a rejected key s3fs would otherwise retry with signature v2 until its timeout.
start_s3fs() {
  local logfile="$1" seconds="$2" options
  options="allow_other,uid=$MOUNT_UID,gid=$MOUNT_GID,umask=$MOUNT_UMASK,mp_umask=$MOUNT_UMASK"
  options+=",connect_timeout=$seconds,readwrite_timeout=$seconds,retries=2"
  options+=",sigv4,endpoint=$REGION,parallel_count=8,multipart_size=16,max_stat_cache_size=10000"
  options+=",stat_cache_expire=30,enable_noobj_cache"
  [ -n "$ENDPOINT" ] && options+=",url=$ENDPOINT,use_path_request_style"
  AWSACCESSKEYID="$ACCESS_KEY" AWSSECRETACCESSKEY="$SECRET_KEY" \
    setsid s3fs "$BUCKET" "$MOUNT_DIR" -f -o "$options" </dev/null >"$logfile" 2>&1 &
  CLIENT_PID=$!
}

# Runs a command with rclone's remote E2BS3 configured through the environment of a subshell:
# the secret is in no command line and no file. AWS_CA_BUNDLE is dropped because rclone fails
# when it is set to a bundle it cannot use.
with_rclone_remote() (
  unset AWS_CA_BUNDLE
  export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_E2BS3_TYPE=s3 RCLONE_CONFIG_E2BS3_ENV_AUTH=false \
    RCLONE_CONFIG_E2BS3_NO_CHECK_BUCKET=true RCLONE_CONFIG_E2BS3_REGION="$REGION" \
    RCLONE_CONFIG_E2BS3_ACCESS_KEY_ID="$ACCESS_KEY" RCLONE_CONFIG_E2BS3_SECRET_ACCESS_KEY="$SECRET_KEY"
  if [ -n "$ENDPOINT" ]; then
    export RCLONE_CONFIG_E2BS3_PROVIDER=Other RCLONE_CONFIG_E2BS3_ENDPOINT="$ENDPOINT" \
      RCLONE_CONFIG_E2BS3_FORCE_PATH_STYLE=true
  else
    export RCLONE_CONFIG_E2BS3_PROVIDER=AWS
  fi
  exec "$@"
)

# Flags (measured in docs/mount-benchmark.md): the write cache lets programs seek and open files
# read-write; write-back 1s uploads soon after close so the backend sees files quickly (0s made
# rclone upload incomplete files, caught by its checksum and retried much later); parallel
# uploads in 16 MiB parts; no per-file HEAD for modification times when listing.
start_rclone() {
  local logfile="$1" seconds="$2"
  local -a network=(--contimeout "${seconds}s" --timeout "${seconds}s" --low-level-retries 2 --retries 1)
  # rclone mounts a missing bucket without complaint, so one listing page proves bucket and key.
  if ! with_rclone_remote timeout -k 1 "$seconds" \
    rclone lsjson --stat "${network[@]}" "E2BS3:$BUCKET" >/dev/null 2>"$logfile"; then
    return 1
  fi
  with_rclone_remote setsid rclone mount "E2BS3:$BUCKET" "$MOUNT_DIR" \
    "${network[@]}" --allow-other --uid "$MOUNT_UID" --gid "$MOUNT_GID" --umask "$MOUNT_UMASK" \
    --cache-dir "$STATE_DIR/rclone-cache" --vfs-cache-mode writes --vfs-write-back 1s \
    --transfers 8 --s3-upload-concurrency 8 --s3-chunk-size 16Mi --dir-cache-time 30s --no-modtime \
    </dev/null >>"$logfile" 2>&1 &
  CLIENT_PID=$!
}

# goofys and geesefs (a goofys fork) share their command line; both read the AWS_* variables.
start_goofys_like() {
  local tool="$1" logfile="$2" seconds="$3"
  local -a args=(-f --region "$REGION" --uid "$MOUNT_UID" --gid "$MOUNT_GID" -o allow_other
    --dir-mode 0755 --file-mode 0644 --http-timeout "${seconds}s")
  [ -n "$ENDPOINT" ] && args+=(--endpoint "$ENDPOINT")
  AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" \
    setsid "$tool" "${args[@]}" "$BUCKET" "$MOUNT_DIR" </dev/null >"$logfile" 2>&1 &
  CLIENT_PID=$!
}

start_client() {
  local tool="$1" logfile="$2" seconds="$3"
  case "$tool" in
    s3fs) start_s3fs "$logfile" "$seconds" ;;
    rclone) start_rclone "$logfile" "$seconds" ;;
    goofys | geesefs) start_goofys_like "$tool" "$logfile" "$seconds" ;;
  esac
}

# Waits until the mount shows up, the client exits, or the deadline passes.
wait_for_mount() {
  local pid="$1" deadline_ms="$2"
  while (($(now_ms) < deadline_ms)); do
    is_mounted && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Lists the root, writes a probe, reads it back and removes it, all through the mount and bounded.
check_mount() {
  local seconds="$1" probe content
  probe="$MOUNT_DIR/.e2b-mount-probe-$$-$RANDOM"
  content="e2b mount probe $$ $RANDOM"
  # shellcheck disable=SC2016 # the inner script expands its own positional parameters
  timeout -k 1 "$seconds" bash -c '
    ls -A -- "$1" >/dev/null &&
      printf "%s" "$3" >"$2" &&
      [ "$(cat -- "$2")" = "$3" ] &&
      rm -f -- "$2"' probe "$MOUNT_DIR" "$probe" "$content" 2>/dev/null
}

# One client, bounded by its budget; on failure nothing of it stays mounted or running.
try_client() {
  local tool="$1" seconds="$2" logfile deadline_ms check_seconds
  logfile="$STATE_DIR/$tool.log"
  deadline_ms=$(($(now_ms) + seconds * 1000))
  CLIENT_PID=""
  if start_client "$tool" "$logfile" "$seconds" && wait_for_mount "$CLIENT_PID" "$deadline_ms"; then
    check_seconds=$(((deadline_ms - $(now_ms)) / 1000))
    if check_mount "$((check_seconds < 1 ? 1 : check_seconds))"; then
      return 0
    fi
    FAILURE="$tool: $(explain_failure "$logfile" "the mount check (write, read back, delete) failed")"
  elif [ -n "$CLIENT_PID" ] && kill -0 "$CLIENT_PID" 2>/dev/null; then
    FAILURE="$tool: $(explain_failure "$logfile" "not mounted within $seconds s")"
  else
    FAILURE="$tool: $(explain_failure "$logfile" "the client exited without mounting")"
  fi
  [ -n "$CLIENT_PID" ] && stop_client "$CLIENT_PID"
  unmount_dir || log "could not unmount $MOUNT_DIR after the failed $tool attempt"
  return 1
}

# Sets MOUNT_TOOL on success, FAILURE otherwise.
mount_bucket() {
  local phase_deadline_ms="$1" tool remaining_ms seconds tried="" failures=""
  MOUNT_TOOL=""
  FAILURE=""
  if [ -z "$ACCESS_KEY" ] || [ -z "$SECRET_KEY" ] || [ -z "$BUCKET" ]; then
    FAILURE="no credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and S3_BUCKET_NAME must be set in the environment or in ${S3_CREDENTIALS_FILE:-/etc/e2b-sandbox/credentials.env}"
    return 1
  fi
  if [ ! -c /dev/fuse ]; then
    FAILURE="FUSE is unavailable: /dev/fuse is missing (the sandbox needs FUSE support)"
    return 1
  fi
  if ! mkdir -p "$MOUNT_DIR" 2>/dev/null || ! mkdir -p "$STATE_DIR" 2>/dev/null; then
    FAILURE="cannot create $MOUNT_DIR or $STATE_DIR"
    return 1
  fi
  chmod 0700 "$STATE_DIR"
  if is_mounted; then
    log "$MOUNT_DIR is already mounted; replacing that mount"
    unmount_dir
  fi
  check_endpoint "$(min "$PHASE_TIMEOUT" 5)" || return 1
  for tool in ${MOUNT_TOOLS//,/ }; do
    case "$tool" in
      s3fs | rclone | goofys | geesefs) ;;
      *)
        log "ignoring unknown mount client '$tool'"
        continue
        ;;
    esac
    if ! command -v "$tool" >/dev/null 2>&1; then
      log "$tool is not installed; skipping it"
      continue
    fi
    # Keep two seconds to stop a client that overran, so the phase never exceeds its bound.
    remaining_ms=$((phase_deadline_ms - $(now_ms) - 2000))
    if ((remaining_ms < 1000)); then
      failures+="${failures:+; }$tool: not tried, the $PHASE_TIMEOUT s mount phase ran out"
      break
    fi
    seconds="$(min "$ATTEMPT_TIMEOUT" "$((remaining_ms / 1000))")"
    tried+="${tried:+ }$tool"
    log "mounting $BUCKET at $MOUNT_DIR with $tool (at most $seconds s)"
    if try_client "$tool" "$seconds"; then
      MOUNT_TOOL="$tool"
      return 0
    fi
    log "$FAILURE"
    failures+="${failures:+; }$FAILURE"
  done
  if [ -z "$tried" ]; then
    FAILURE="no FUSE client installed (looked for: ${MOUNT_TOOLS//,/ })"
  else
    FAILURE="$failures"
  fi
  return 1
}

mount_phase() {
  local started_ms elapsed_ms
  started_ms="$(now_ms)"
  read_settings
  if mount_bucket "$((started_ms + PHASE_TIMEOUT * 1000))"; then
    elapsed_ms=$(($(now_ms) - started_ms))
    log "mounted $BUCKET at $MOUNT_DIR with $MOUNT_TOOL in ${elapsed_ms} ms"
    write_status true "$MOUNT_TOOL" "" "$elapsed_ms"
  else
    elapsed_ms=$(($(now_ms) - started_ms))
    log "bucket not mounted, the sandbox starts without it: $FAILURE"
    write_status false "" "$FAILURE" "$elapsed_ms"
  fi
}

# --- servers ----------------------------------------------------------------------------------

# One HTTP request in bash itself (/dev/tcp): polling costs no process but the sleep.
# Only plain http:// URLs, as Jupyter listens on loopback.
jupyter_answers() {
  local host="$1" port="$2" path="$3" fd status_line=""
  exec {fd}<>"/dev/tcp/$host/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$host" >&"$fd"
  IFS= read -r -t 2 -u "$fd" status_line
  exec {fd}>&-
  [[ "$status_line" =~ ^HTTP/[0-9.]+\ 200 ]]
}

wait_for_jupyter() {
  local url="${JUPYTER_STATUS_URL:-http://127.0.0.1:8888/api/status}" limit deadline
  limit="$(int_setting "${JUPYTER_WAIT_TIMEOUT:-}" 120 1 3600)"
  if [[ ! "$url" =~ ^http://([^/:]+)(:([0-9]+))?(/.*)?$ ]]; then
    log "JUPYTER_STATUS_URL must be an http:// URL; got $url"
    return 1
  fi
  local host="${BASH_REMATCH[1]}" port="${BASH_REMATCH[3]:-80}" path="${BASH_REMATCH[4]:-/}"
  deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    jupyter_answers "$host" "$port" "$path" 2>/dev/null && return 0
    sleep 1
  done
  log "Jupyter did not answer $url within $limit s; the code-interpreter server is not started"
  return 1
}

start_code_interpreter() {
  local dir="${CODE_INTERPRETER_DIR:-/root/.server}"
  wait_for_jupyter || return 0
  cd "$dir" || {
    log "cannot enter $dir; the code-interpreter server is not started"
    return 0
  }
  exec "$dir/.venv/bin/uvicorn" main:app --host 0.0.0.0 --port 49999 --workers 1 \
    --no-access-log --no-use-colors --timeout-keep-alive 640
}

start_servers() {
  log "Starting Code Interpreter server..."
  start_code_interpreter &
  MATPLOTLIBRC=/root/.config/matplotlib/.matplotlibrc exec jupyter server --IdentityProvider.token="" \
    >/dev/null 2>&1
}

main() {
  local mount_only=false
  case "${1:-}" in
    --mount-only) mount_only=true ;;
    "") ;;
    *)
      log "unknown argument '$1' (usage: start-up.sh [--mount-only])"
      return 2
      ;;
  esac
  load_baked_credentials
  mount_phase
  "$mount_only" && return 0
  start_servers
}

main "$@"
