#!/usr/bin/env bash
# Multi-worker training (MultiWorkerMirroredStrategy): one process per host, TF_CONFIG built here.
#
# On each host (same command everywhere except --index; worker 0 is the chief):
#   launch/multi_worker.sh --workers=10.0.0.1:12345,10.0.0.2:12345 --index=0 -- \
#       --task=classification --train_data=gs://bucket/train.tsv --output_dir=gs://bucket/run ...
# On one machine, N workers on 127.0.0.1 with free ports (what the tests run):
#   launch/multi_worker.sh --local=2 -- --train_data=train.tsv --output_dir=runs/mw ...
# --dry-run prints the commands instead of running them.
set -euo pipefail

workers="" index="" local_count="" dry_run=0 python="${PYTHON:-python}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers=*) workers="${1#*=}" ;;
    --index=*) index="${1#*=}" ;;
    --local=*) local_count="${1#*=}" ;;
    --dry-run) dry_run=1 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "multi_worker.sh: error: unknown option $1 (train flags go after --)" >&2; exit 2 ;;
  esac
  shift
done
train_flags=("$@")

tf_config() {  # tf_config HOSTS INDEX
  local hosts="$1" i="$2" list
  list=$(printf '"%s",' ${hosts//,/ }); list="[${list%,}]"
  printf '{"cluster":{"worker":%s},"task":{"type":"worker","index":%d}}' "$list" "$i"
}

show_or_run() {  # show_or_run TF_CONFIG (then runs kerasbert.train with the train flags)
  local config="$1"
  if [[ $dry_run == 1 ]]; then
    printf "TF_CONFIG='%s' %s -m kerasbert.train" "$config" "$python"
    printf ' %q' "${train_flags[@]}"; printf '\n'
  else
    TF_CONFIG="$config" "$python" -m kerasbert.train "${train_flags[@]}"
  fi
}

if [[ -n "$local_count" ]]; then
  hosts=$("$python" - "$local_count" <<'PY'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(",".join(f"127.0.0.1:{s.getsockname()[1]}" for s in sockets))
PY
)
  pids=()
  for ((i = 0; i < local_count; i++)); do
    if [[ $dry_run == 1 ]]; then show_or_run "$(tf_config "$hosts" "$i")"
    else show_or_run "$(tf_config "$hosts" "$i")" & pids+=($!); fi
  done
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
  exit $status
fi

[[ -n "$workers" && -n "$index" ]] || {
  echo "multi_worker.sh: error: give --workers=HOST:PORT,... and --index=N, or --local=N" >&2; exit 2; }
show_or_run "$(tf_config "$workers" "$index")"
