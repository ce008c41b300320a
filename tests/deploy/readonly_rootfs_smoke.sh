#!/usr/bin/env bash
# Runs the container layout without Docker: llm-worker and llm-scheduler
# started through deploy/docker/entrypoint.sh as uid 10001, chrooted into a
# read-only view of this machine's root filesystem with the image's paths
# (/opt/llm/bin, /opt/llm/entrypoint.sh, the model read-only under
# /models) and only /tmp writable, as the chart runs the pods
# (readOnlyRootFilesystem, runAsUser 10001). Checks that both come up
# SERVING, that a generation works, and that SIGTERM drains the scheduler
# to exit 0.
#
#   tests/deploy/readonly_rootfs_smoke.sh BIN_DIR MODEL
# Needs root and mount namespaces (unshare -m); exits 77 when unavailable.
set -euo pipefail
BIN_DIR=$(cd "$1" && pwd)
MODEL=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (mount namespace, chroot)"
for b in llm-worker llm-scheduler llmctl; do [ -x "$BIN_DIR/$b" ] || skip "$BIN_DIR/$b not built"; done
[ -f "$MODEL" ] || skip "model $MODEL missing"
command -v setpriv >/dev/null || skip "setpriv missing"
unshare -m true 2>/dev/null || skip "unshare -m not permitted here"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WG=$(free_port) WM=$(free_port) SG=$(free_port) SM=$(free_port)
LOG=$(mktemp -d /tmp/readonly_smoke.XXXXXX)
export BIN_DIR MODEL ROOT WG WM SG SM LOG

# Everything below runs in a private mount namespace; the mounts vanish with it.
set +e
# shellcheck disable=SC2016  # expanded by the inner bash
unshare -m bash -euo pipefail -c '
  NEW=$LOG/root; mkdir "$NEW"
  mount --make-rprivate /
  mount --bind / "$NEW"                      # this root, without submounts ...
  mount -t tmpfs -o size=512m tmpfs "$NEW/opt"   # image paths, filled then made read-only
  mkdir -p "$NEW/opt/llm/bin" "$NEW/opt/models"
  cp "$BIN_DIR/llm-worker" "$BIN_DIR/llm-scheduler" "$BIN_DIR/llmctl" "$NEW/opt/llm/bin/"
  cp "$ROOT/deploy/docker/entrypoint.sh" "$NEW/opt/llm/entrypoint.sh"
  cp "$MODEL" "$NEW/opt/models/model.gguf"
  mount -o remount,ro "$NEW/opt"
  mount -o remount,bind,ro "$NEW"            # ... read-only
  mount -t tmpfs -o size=64m,mode=1777 tmpfs "$NEW/tmp"   # the only writable path
  mount --rbind /dev "$NEW/dev"
  mount -t proc proc "$NEW/proc"
  # uid 10001, clean environment, as the image sets it. exec: called with &,
  # the background job is then the service itself, so kill -TERM reaches it.
  run_as() {
    exec chroot "$NEW" setpriv --reuid=10001 --regid=10001 --clear-groups \
      env -i PATH=/opt/llm/bin:/usr/bin:/bin HOME=/tmp TMPDIR=/tmp \
      LLM_MODEL=/opt/models/model.gguf LLM_MODEL_WAIT_SECONDS=0 "$@"
  }
  # A write outside /tmp must fail, or the test proves nothing.
  if (run_as touch /opt/llm/probe) 2>/dev/null || (run_as touch /probe) 2>/dev/null; then
    echo "FAIL: the root filesystem is writable"; exit 1
  fi
  run_as /opt/llm/entrypoint.sh worker --listen 127.0.0.1:$WG --metrics-listen 127.0.0.1:$WM \
    --threads 1 --kv-cache-bytes 16777216 >"$LOG/worker.log" 2>&1 &
  worker=$!
  health() { (run_as /opt/llm/bin/llmctl --server "$1" --timeout 1 health) >/dev/null 2>&1; }
  for i in $(seq 300); do health 127.0.0.1:$WG && break; sleep 0.2; done
  health 127.0.0.1:$WG || { echo "FAIL: worker not SERVING"; cat "$LOG/worker.log"; exit 1; }
  run_as /opt/llm/entrypoint.sh scheduler --listen 127.0.0.1:$SG --metrics-listen 127.0.0.1:$SM \
    --workers 127.0.0.1:$WG --drain-timeout 5 >"$LOG/scheduler.log" 2>&1 &
  scheduler=$!
  for i in $(seq 300); do health 127.0.0.1:$SG && break; sleep 0.2; done
  health 127.0.0.1:$SG || { echo "FAIL: scheduler not SERVING"; cat "$LOG/scheduler.log"; exit 1; }
  out=$(run_as /opt/llm/bin/llmctl --server 127.0.0.1:$SG --timeout 60 generate \
        --prompt "The capital of France is" --max-tokens 4 --temperature 0)
  [ -n "$out" ] || { echo "FAIL: empty generation"; exit 1; }
  echo "generated: $out"
  kill -TERM $scheduler; set +e; wait $scheduler; sst=$?; set -e
  kill -TERM $worker; set +e; wait $worker; wst=$?; set -e
  grep -q "llm-scheduler draining" "$LOG/scheduler.log" || { echo "FAIL: no drain"; exit 1; }
  [ $sst = 0 ] && [ $wst = 0 ] || { echo "FAIL: exit status scheduler=$sst worker=$wst"; exit 1; }
  echo "PASS: worker and scheduler ran as uid 10001 on a read-only root; drained and exited 0"
'
status=$?
rm -rf "$LOG"
exit $status
