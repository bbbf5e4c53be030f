#!/usr/bin/env bash
# Distributed hyperparameter search (KerasTuner): a chief serves the oracle, N workers run trials.
#
# On one machine, a chief and N workers on 127.0.0.1 (a free port unless --port):
#   launch/tune_distributed.sh --workers=2 -- --train_data=train.tsv --eval_data=dev.tsv \
#       --output_dir=runs/search --max_trials=20
# On several hosts (the same --output_dir on a shared filesystem), one process per host:
#   launch/tune_distributed.sh --role=chief --ip=10.0.0.1 --port=8000 -- TUNE_FLAGS
#   launch/tune_distributed.sh --role=worker --index=0 --ip=10.0.0.1 --port=8000 -- TUNE_FLAGS
# --gpus_per_worker=K gives local worker i the GPUs i*K..i*K+K-1 (the chief gets none).
# Restart a killed chief or worker with the same command: the search resumes.
# --dry-run prints the commands instead of running them.
set -euo pipefail

workers="" role="" index="" ip="127.0.0.1" port="" gpus_per_worker="" dry_run=0
python="${PYTHON:-python}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers=*) workers="${1#*=}" ;;
    --role=*) role="${1#*=}" ;;
    --index=*) index="${1#*=}" ;;
    --ip=*) ip="${1#*=}" ;;
    --port=*) port="${1#*=}" ;;
    --gpus_per_worker=*) gpus_per_worker="${1#*=}" ;;
    --dry-run) dry_run=1 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "tune_distributed.sh: error: unknown option $1 (tune flags go after --)" >&2; exit 2 ;;
  esac
  shift
done
tune_flags=("$@")

if [[ -z "$workers" && -z "$role" ]]; then
  echo "tune_distributed.sh: error: give --workers=N (one machine) or --role=chief|worker" >&2
  exit 2
fi
if [[ -n "$workers" && ! "$workers" =~ ^[1-9][0-9]*$ ]]; then
  echo "tune_distributed.sh: error: --workers must be a positive number, got $workers" >&2; exit 2
fi
if [[ -n "$role" && "$role" != chief && "$role" != worker ]]; then
  echo "tune_distributed.sh: error: --role must be chief or worker, got $role" >&2; exit 2
fi
if [[ "$role" == worker && -z "$index" ]]; then
  echo "tune_distributed.sh: error: --role=worker needs --index=N" >&2; exit 2
fi
if [[ -z "$port" ]]; then
  [[ -n "$role" ]] && { echo "tune_distributed.sh: error: --role needs --port" >&2; exit 2; }
  port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

show_or_start() {  # show_or_start TUNER_ID [CUDA_VISIBLE_DEVICES]: runs kerasbert.tune with the tune flags
  local id="$1" devices="${2-unset}"
  local -a env_vars=("KERASTUNER_TUNER_ID=$id" "KERASTUNER_ORACLE_IP=$ip" "KERASTUNER_ORACLE_PORT=$port")
  [[ "$devices" != unset ]] && env_vars+=("CUDA_VISIBLE_DEVICES=$devices")
  if [[ $dry_run == 1 ]]; then
    printf '%s ' "${env_vars[@]}"; printf '%s -m kerasbert.tune' "$python"
    printf ' %q' "${tune_flags[@]}"; printf '\n'
  else
    env "${env_vars[@]}" "$python" -m kerasbert.tune "${tune_flags[@]}" &
    pids+=($!)
  fi
}

worker_devices() {  # worker_devices INDEX: its GPU list, or "unset"
  local i="$1" k="$gpus_per_worker"
  [[ -z "$k" ]] && { echo unset; return; }
  seq -s, $((i * k)) $((i * k + k - 1))
}

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' INT TERM
if [[ -n "$role" ]]; then
  if [[ "$role" == chief ]]; then show_or_start chief ""
  else show_or_start "tuner$index" "$(worker_devices "$index")"; fi
else
  show_or_start chief ""
  for ((i = 0; i < workers; i++)); do show_or_start "tuner$i" "$(worker_devices "$i")"; done
fi
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
