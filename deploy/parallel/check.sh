#!/usr/bin/env bash
# gupsim check scaled out with GNU parallel: shards 0…N−1 of the space as parallel jobs, on this machine or on
# ssh hosts (-S), then `gupsim check merge`. The recipe it automates (docs/scale-out.md):
#
#   parallel -j1 'gupsim check --arch x86_64 --kernel 5.11,5.18 --shard {}/4 --json > res/shard-{}-of-4.json; [ $? -le 1 ]' ::: $(seq 0 3)
#   gupsim check merge res/shard-*-of-4.json
#
# Usage: deploy/parallel/check.sh -n N -o DIR [-j JOBS] [-S HOSTS] [-t TOOL] -- CHECK OPTIONS…
#   -n N      shards (default 4)
#   -o DIR    results directory (required; with -S, on a filesystem every host sees at the same path)
#   -j JOBS   shards running at once per host (default 1: each gupsim check already uses every core it sees)
#   -S HOSTS  GNU parallel's --sshlogin list, e.g. `:,node1,node2` (`:` is this machine); default this machine only
#   -t TOOL   how each host runs gupsim (default: $GUPSIM, else `gupsim`), e.g. `dotnet /shared/gupsim/GupSim.Cli.dll`
#
# Writes DIR/shard-I-of-N.json (each shard's `--json`), DIR/logs/shard-I.log (its stderr), DIR/merged.json and
# DIR/summary.txt, and prints the summary. Exit code: gupsim check merge's (0 no configuration failed, 1 some
# failed); 2 when a shard or the merge could not run (one `check.sh: …` line on stderr).
set -uo pipefail

die() {
  echo "check.sh: $*" >&2
  exit 2
}

shards=4
results=
jobs=1
hosts=
tool=${GUPSIM:-gupsim}
while [ $# -gt 0 ]; do
  case $1 in
    -n) [ $# -ge 2 ] || die "-n needs a number of shards"; shards=$2; shift 2 ;;
    -o) [ $# -ge 2 ] || die "-o needs a results directory"; results=$2; shift 2 ;;
    -j) [ $# -ge 2 ] || die "-j needs a number of jobs"; jobs=$2; shift 2 ;;
    -S) [ $# -ge 2 ] || die "-S needs a host list"; hosts=$2; shift 2 ;;
    -t) [ $# -ge 2 ] || die "-t needs the tool's command line"; tool=$2; shift 2 ;;
    --) shift; break ;;
    -h | --help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (gupsim check's options go after --; see $0 --help)" ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "-n $shards: not a positive number of shards"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "-j $jobs: not a positive number of jobs"
[ -n "$results" ] || die "no results directory: give -o DIR"
command -v parallel >/dev/null || die "parallel: command not found (apt-get install parallel)"
mkdir -p "$results/logs" || die "cannot create $results/logs"
results=$(cd "$results" && pwd)

# One shard: gupsim check's exit 1 (configurations failed) is a finished shard; the JSON appears only when complete.
gupsim_shard() {
  local i=$1 args cmd out rc
  eval "args=($GUPSIM_CHECK_ARGS)"
  read -r -a cmd <<<"$GUPSIM"
  out="$GUPSIM_RESULTS/shard-$i-of-$GUPSIM_SHARDS.json"
  "${cmd[@]}" check "${args[@]}" --shard "$i/$GUPSIM_SHARDS" --json >"$out.tmp" 2>"$GUPSIM_RESULTS/logs/shard-$i.log"
  rc=$?
  if [ $rc -le 1 ]; then
    mv -f "$out.tmp" "$out"
    return 0
  fi
  rm -f "$out.tmp"
  echo "check.sh: shard $i/$GUPSIM_SHARDS: gupsim check exited $rc: $(tail -n 1 "$GUPSIM_RESULTS/logs/shard-$i.log")" >&2
  return "$rc"
}
export -f gupsim_shard
GUPSIM=$tool GUPSIM_RESULTS=$results GUPSIM_SHARDS=$shards GUPSIM_CHECK_ARGS=$(printf '%q ' "$@")
export GUPSIM GUPSIM_RESULTS GUPSIM_SHARDS GUPSIM_CHECK_ARGS

remote=()
[ -z "$hosts" ] || remote=(-S "$hosts" --env gupsim_shard --env GUPSIM --env GUPSIM_RESULTS --env GUPSIM_SHARDS --env GUPSIM_CHECK_ARGS)
rm -f "$results"/shard-*-of-"$shards".json
parallel --will-cite --halt soon,fail=1 -j "$jobs" "${remote[@]}" gupsim_shard ::: $(seq 0 $((shards - 1))) ||
  die "a shard failed (its line is above; its log is in $results/logs); merge not run"

read -r -a gupsim <<<"$tool"
files=()
for ((i = 0; i < shards; i++)); do files+=("$results/shard-$i-of-$shards.json"); done
"${gupsim[@]}" check merge "${files[@]}" --json >"$results/merged.json"
rc=$?
[ $rc -le 1 ] || die "gupsim check merge exited $rc (see the line above)"
"${gupsim[@]}" check merge "${files[@]}" | tee "$results/summary.txt"
exit "$rc"
