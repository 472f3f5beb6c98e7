#!/usr/bin/env bash
# The nightly submission, for cron: list the corpus once, submit N capfilt tasks as one array, then the
# catalog job that checks them. Prints both job ids.
#
#   deploy/slurm/submit-nightly.sh PIPELINE.yaml N
#   # crontab:  30 1 * * *  cd /data/capfilt && deploy/slurm/submit-nightly.sh pipelines/nightly.yaml 64 >>submit.log 2>&1
#
# Environment:
#   CAPFILT_BIN     the capfilt binary (default: capfilt on PATH); passed on to the jobs
#   CAPFILT_OUT     the pipeline's output folder (default: output.dir from the YAML, relative to it)
#   CAPFILT_LIST    0 to skip the listing: each task then walks the input folders itself
#   SBATCH_ARGS     extra sbatch options for both jobs (--partition=..., --account=...)
set -euo pipefail

if [[ $# -ne 2 ]] || ! [[ $2 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 PIPELINE.yaml N" >&2
  exit 2
fi
# Absolute paths: the jobs run from Slurm's spool copy of their script, in the submit folder.
PIPELINE=$(realpath "$1")
N=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CAPFILT=${CAPFILT_BIN:-capfilt}
# cron's PATH is minimal; the jobs look the binary up on the compute nodes, so hand them a full path.
if [[ $CAPFILT != */* ]]; then CAPFILT=$(command -v "$CAPFILT"); fi
export CAPFILT_BIN=$CAPFILT

output_dir() {  # output.dir of a pipeline file, resolved against the file's folder as capfilt does
  local dir
  dir=$(awk '
    /^[^ #]/ { inout = ($0 ~ /^output:/) }
    inout && /^[ ]+dir:/ { sub(/^[ ]+dir:[ ]*/, ""); sub(/[ ]+#.*$/, ""); gsub(/^["'\'']|["'\'']$/, ""); print; exit }
  ' "$1")
  [[ -n $dir ]] || return 1
  case $dir in /*) echo "$dir" ;; *) echo "$(dirname "$1")/$dir" ;; esac
}
OUT=${CAPFILT_OUT:-$(output_dir "$PIPELINE")} || {
  echo "submit-nightly: no output.dir found in $PIPELINE; set CAPFILT_OUT" >&2
  exit 2
}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

# One walk of the corpus here instead of N walks on the shared file system. A listing per submission:
# tonight's must not replace the one a still-queued earlier array has yet to read.
unset CAPFILT_LISTING
if [[ ${CAPFILT_LIST:-1} != 0 ]]; then
  mkdir -p "$OUT/listings"
  listing=$OUT/listings/listing-$(date -u +%Y%m%dT%H%M%SZ).jsonl
  "$CAPFILT" list "$PIPELINE" --out "$listing" >&2
  export CAPFILT_LISTING=$listing
  find "$OUT/listings" -name 'listing-*.jsonl' -mtime +14 -delete
fi

# The split is fixed here, not taken from the array's size, so a resubmission of some indices keeps it.
export CAPFILT_SHARD_COUNT=$N
unset CAPFILT_RUN_GROUP  # each night is its own group: the array's job id
# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array=0-$((N - 1)) "$HERE/capfilt.sbatch" "$PIPELINE")
array=${array%%;*}  # "id;cluster" on a multi-cluster setup

# afterany, not afterok: the catalog must run when tasks failed too, since its report names them.
# shellcheck disable=SC2086
catalog=$(CAPFILT_RUN_GROUP=$array CAPFILT_SBATCH=$HERE/capfilt.sbatch CAPFILT_PIPELINE=$PIPELINE \
  sbatch --parsable ${SBATCH_ARGS:-} --dependency=afterany:"$array" "$HERE/capfilt-catalog.sbatch" "$OUT")
catalog=${catalog%%;*}

echo "array $array ($N tasks, group $array) catalog $catalog output $OUT"
