#!/usr/bin/env bash
# Submits a gupsim check sweep to Slurm: a job array of N shards (check-array.sbatch) and the merge job
# (merge.sbatch) with --dependency=afterok on the array, then prints both job ids.
#
#   deploy/slurm/submit.sh -n 16 -o /shared/check-run1 -- --arch x86_64,arm64-4k --kernel 5.11,5.18,6.1
#
# Options (before `--`; everything after it goes to gupsim check):
#   -n N        shards: array tasks 0…N−1 (default 4)
#   -o DIR      results directory, on a filesystem every node sees (required); shard JSON, merged.json,
#               summary.txt and the job logs (DIR/logs) go there
#   -t TOOL     how the nodes run gupsim (sets GUPSIM; default: $GUPSIM, else `gupsim`), e.g.
#               `dotnet /shared/gupsim/GupSim.Cli.dll`
#   -s OPTS     extra sbatch options for both jobs, split on spaces (also $GUPSIM_SBATCH_OPTS), e.g.
#               "--partition=batch --time=01:00:00"; sbatch's own SBATCH_* variables work as well
#
# Prints, on success:
#   array job 1234: 16 shards, results in /shared/check-run1
#   merge job 1235: after afterok:1234, writes /shared/check-run1/merged.json and summary.txt
# Exit code 0 when both were submitted; 2 with one `submit: …` line on stderr otherwise.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
  echo "submit: $*" >&2
  exit 2
}

shards=4
results=
tool=${GUPSIM:-gupsim}
sbatch_opts=${GUPSIM_SBATCH_OPTS:-}
while [ $# -gt 0 ]; do
  case $1 in
    -n) [ $# -ge 2 ] || die "-n needs a number of shards"; shards=$2; shift 2 ;;
    -o) [ $# -ge 2 ] || die "-o needs a results directory"; results=$2; shift 2 ;;
    -t) [ $# -ge 2 ] || die "-t needs the tool's command line"; tool=$2; shift 2 ;;
    -s) [ $# -ge 2 ] || die "-s needs sbatch options"; sbatch_opts="$sbatch_opts $2"; shift 2 ;;
    --) shift; break ;;
    -h | --help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (gupsim check's options go after --; see $0 --help)" ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "-n $shards: not a positive number of shards"
[ -n "$results" ] || die "no results directory: give -o DIR on a filesystem every node sees"
command -v sbatch >/dev/null || die "sbatch: command not found (run this on a Slurm submit host)"
mkdir -p "$results/logs" || die "cannot create $results/logs"
results=$(cd "$results" && pwd)
read -r -a extra <<<"$sbatch_opts"

export GUPSIM=$tool GUPSIM_RESULTS=$results GUPSIM_SHARDS=$shards
array_id=$(sbatch --parsable --export=ALL --array="0-$((shards - 1))" --output="$results/logs/shard-%a.log" \
  "${extra[@]}" "$here/check-array.sbatch" "$@") || die "sbatch of the shard array failed (its message is above)"
array_id=${array_id%%;*}
merge_id=$(sbatch --parsable --export=ALL --dependency="afterok:$array_id" --kill-on-invalid-dep=yes \
  --output="$results/logs/merge.log" "${extra[@]}" "$here/merge.sbatch") || {
  scancel "$array_id"
  die "sbatch of the merge job failed (its message is above); cancelled array job $array_id"
}
merge_id=${merge_id%%;*}
echo "array job $array_id: $shards shards, results in $results"
echo "merge job $merge_id: after afterok:$array_id, writes $results/merged.json and summary.txt"
