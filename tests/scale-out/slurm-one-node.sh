#!/usr/bin/env bash
# The scale-out test, for real: a one-node Slurm cluster on this machine (munged, slurmctld and slurmd on
# localhost), deploy/slurm/submit.sh's 4-task array and its dependent merge job, deploy/parallel/check.sh, and one
# plain `gupsim check` of the same space; the merged JSON of each engine must equal the single run's, elapsedSeconds
# aside, and `check merge` must exit as the single run did. .ci/run runs it after the unit tests; GUPSIM_SKIP_SLURM=1
# skips it there (machines without root). docs/scale-out.md describes it.
#
# Needs root on Debian (or Ubuntu): installs slurm-wlm, munge, parallel, jq and yq with apt-get when missing, builds the
# tool (dotnet publish src/GupSim.Cli -c Release) unless GUPSIM names one, and keeps every file of the cluster — its
# slurm.conf (found through SLURM_CONF), munge key and socket, state, spool, logs — in one temp directory, so
# nothing of the system's own Slurm or munge setup is read or changed. The daemons are stopped on exit, pass or fail.
#
# Environment:
#   GUPSIM                 the tool's command line, instead of building it (e.g. `dotnet /x/GupSim.Cli.dll`)
#   GUPSIM_SCALEOUT_SPACE  gupsim check's options for the space (default below: a few hundred configurations)
#   GUPSIM_SLURM_KEEP=1    keep the temp directory (results, slurm.conf, logs) after the run
# Exit code: 0 when every comparison held; 1 with one `slurm-one-node: FAILED: …` line on stderr otherwise.
set -uo pipefail
export LC_ALL=C
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The default space: gup-fast get_user_pages_fast() on x86_64 v5.11 and v5.18, fresh boots, 120 configurations over
# 20 groups. v5.11's gup_huge_pud() page++ fails on 1 GiB pages over scattered memmaps and v5.18's nth_page() does
# not, so the single run and the merges have one group with failures and a minimal case to agree on.
space=${GUPSIM_SCALEOUT_SPACE:---arch x86_64 --kernel 5.11,5.18 --path fast-get --churn 0 --budget 120}
read -r -a space_args <<<"$space"
shards=4

say() { echo "slurm-one-node: $*" >&2; }
fail() {
  echo "slurm-one-node: FAILED: $*" >&2
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t_all=$(now)

[ "$(id -u)" -eq 0 ] || fail "needs root (it installs slurm-wlm and munge and starts their daemons); on a machine without root set GUPSIM_SKIP_SLURM=1 to skip it"

# 1. Packages.
t=$(now)
missing=0
for cmd in slurmctld slurmd sbatch squeue scontrol scancel sinfo munged munge unmunge parallel jq yq; do
  command -v "$cmd" >/dev/null || missing=1
done
if [ $missing -eq 1 ]; then
  command -v apt-get >/dev/null || fail "apt-get: command not found: install slurm-wlm, munge, parallel, jq and yq by hand (Debian names), or set GUPSIM_SKIP_SLURM=1"
  say "installing slurm-wlm munge parallel jq yq (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null >/tmp/slurm-one-node-apt.log 2>&1 ||
    fail "apt-get update failed (log: /tmp/slurm-one-node-apt.log)"
  apt-get install -y -qq --no-install-recommends slurm-wlm munge parallel jq yq </dev/null >>/tmp/slurm-one-node-apt.log 2>&1 ||
    fail "apt-get install slurm-wlm munge parallel jq yq failed (log: /tmp/slurm-one-node-apt.log)"
fi
t_install=$(since "$t")

work=$(mktemp -d /tmp/gupsim-slurm.XXXXXX) || fail "mktemp failed"
chmod 755 "$work" # munged wants every directory above its socket searchable by all
pids=()
cleanup() {
  local rc=$?
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && [ ${#pids[@]} -gt 1 ]; then
    scancel --quiet --full --user=root 2>/dev/null
    for _ in $(seq 1 20); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.25; done
  fi
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "${GUPSIM_SLURM_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    say "kept $work (slurm.conf, logs/, results)"
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# 2. The tool, as the nodes run it.
t=$(now)
if [ -z "${GUPSIM:-}" ]; then
  command -v dotnet >/dev/null || fail "dotnet: command not found (the .NET 10 SDK builds the tool)"
  say "building the tool (dotnet publish src/GupSim.Cli -c Release)"
  dotnet publish "$repo/src/GupSim.Cli" -c Release -o "$work/gupsim" --nologo -v q >"$work/publish.log" 2>&1 ||
    fail "dotnet publish src/GupSim.Cli failed (log: $work/publish.log)"
  GUPSIM="dotnet $work/gupsim/GupSim.Cli.dll"
fi
export GUPSIM
read -r -a gupsim <<<"$GUPSIM"
t_build=$(since "$t")

# 3. The cluster: munged, slurmctld, slurmd, every file under $work.
t=$(now)
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/logs"
chmod 755 "$work/munge"
head -c 1024 /dev/urandom >"$work/munge/munge.key"
chmod 400 "$work/munge/munge.key"
socket=$work/munge/munge.socket.2
munged -F --key-file="$work/munge/munge.key" --socket="$socket" --pid-file="$work/munge/munged.pid" \
  --log-file="$work/logs/munged.log" --seed-file="$work/munge/munged.seed" >"$work/logs/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 40); do munge -S "$socket" -n 2>/dev/null | unmunge -S "$socket" >/dev/null 2>&1 && break; sleep 0.25; done
munge -S "$socket" -n 2>/dev/null | unmunge -S "$socket" >/dev/null 2>&1 ||
  fail "munged did not start: $(tail -n 1 "$work/logs/munged.out")"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ctld_port=16817
while port_in_use $ctld_port || port_in_use $((ctld_port + 1)); do ctld_port=$((ctld_port + 2)); done
host=$(hostname -s)
node=$(slurmd -C 2>/dev/null | head -n 1)
[[ $node == NodeName=* ]] || fail "slurmd -C printed no NodeName line: $node"
export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<EOF
# One-node cluster for tests/scale-out/slurm-one-node.sh: controller and node on localhost, no cgroups (works in a
# container), no accounting, everything under $work.
ClusterName=gupsimtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/logs/slurmctld.log
SlurmdLogFile=$work/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -f "$SLURM_CONF" >"$work/logs/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/logs/slurmd.out" 2>&1 &
pids+=($!)
state=
for _ in $(seq 1 120); do
  state=$(sinfo -h -o %t 2>/dev/null)
  [ "$state" = idle ] && break
  sleep 0.25
done
[ "$state" = idle ] || fail "node $host not idle after 30 s (state '${state:-none}'; logs in $work/logs)"
t_start=$(since "$t")
say "cluster up in ${t_start} s: $node, ports $ctld_port/$((ctld_port + 1))"

# Waits until job $1 has left the queue (its array tasks too), at most $2 seconds.
wait_gone() {
  local deadline=$(($(date +%s) + $2))
  while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "job $1 still queued after $2 s: $(squeue -h -j "$1" -o '%i %T %r' | head -n 1)"
    sleep 0.5
  done
}
# Prints "STATE EXITCODE" of job $1 (a single job, or one array task as ARRAY_TASK).
job_state() {
  scontrol -o show job "$1" 2>/dev/null | head -n 1 | sed -n 's/.*JobState=\([A-Z_]*\).*ExitCode=\([0-9:]*\).*/\1 \2/p'
}

# 4. Bad input to the recipes: one line, exit 2 (no cluster needed).
mkdir -p "$work/empty"
msg=$(bash "$repo/deploy/slurm/submit.sh" -n 0 -o "$work/x" -- --arch x86_64 2>&1)
[ $? -eq 2 ] && [ "$(wc -l <<<"$msg")" -eq 1 ] || fail "submit.sh -n 0 should print one line and exit 2, got: $msg"
msg=$(GUPSIM_RESULTS=$work/empty GUPSIM_SHARDS=2 bash "$repo/deploy/slurm/merge.sbatch" 2>&1)
[ $? -eq 2 ] && [[ $msg == *"shard-0-of-2.json: No such file or directory"* ]] ||
  fail "merge.sbatch with no shard files should say 'No such file or directory' and exit 2, got: $msg"
msg=$(env -u SLURM_ARRAY_TASK_ID bash "$repo/deploy/slurm/check-array.sbatch" 2>&1)
[ $? -eq 2 ] || fail "check-array.sbatch outside an array should exit 2, got: $msg"

# 5. The single run: the reference.
t=$(now)
"${gupsim[@]}" check "${space_args[@]}" --json >"$work/single.json" 2>"$work/logs/single.err"
single_rc=$?
t_single=$(since "$t")
[ $single_rc -le 1 ] || fail "gupsim check $space exited $single_rc: $(tail -n 1 "$work/logs/single.err")"
jq -e . "$work/single.json" >/dev/null 2>&1 || fail "gupsim check $space --json printed no JSON object"
configurations=$(jq .configurations "$work/single.json")
failures=$(jq .failures "$work/single.json")
[ "$configurations" -gt 0 ] || fail "the space '$space' has no configuration: nothing would be compared"
minimal=$(jq '[.groups[] | select(.minimal != null)] | length' "$work/single.json")
[ "$failures" -gt 0 ] && [ "$minimal" -gt 0 ] ||
  fail "the space '$space' found no failure ($failures failed, $minimal minimal cases), so merging minimal cases would go untested: give GUPSIM_SCALEOUT_SPACE a space with failures"
say "single run: $configurations configurations, $failures failed, exit $single_rc, ${t_single} s"

# Compares merged JSON $1 (from engine $2, exit code $3) with the single run's, elapsedSeconds removed.
compare() {
  jq -S 'del(.elapsedSeconds)' "$work/single.json" >"$work/single.norm.json"
  jq -S 'del(.elapsedSeconds)' "$1" >"$1.norm" 2>/dev/null || fail "$2: $1 is not JSON"
  if ! cmp -s "$work/single.norm.json" "$1.norm"; then
    diff "$work/single.norm.json" "$1.norm" >"$1.diff"
    fail "$2: merged JSON differs from the single run's ($(grep -c '^[<>]' "$1.diff") differing lines, first: $(grep -m 1 '^[<>]' "$1.diff" | cut -c 1-160); diff in $1.diff)"
  fi
  [ "$3" -eq "$single_rc" ] || fail "$2: gupsim check merge exited $3, the single run $single_rc"
  local f sum=0 n
  for f in "$(dirname "$1")"/shard-*-of-$shards.json; do
    n=$(jq .configurations "$f")
    [ "$n" -gt 0 ] || fail "$2: $(basename "$f") ran no configuration: the shards do not split the space"
    sum=$((sum + n))
  done
  [ "$sum" -eq "$configurations" ] || fail "$2: the shards ran $sum configurations, the single run $configurations"
}

# 6. Slurm: submit.sh's array of 4 and the merge job after it. One CPU each (so two run at once on this node, and
#    check-array.sbatch gives each --jobs 1: the verdicts must not depend on the core count of the single run).
t=$(now)
out=$(bash "$repo/deploy/slurm/submit.sh" -n $shards -o "$work/slurm" -t "$GUPSIM" -s "--cpus-per-task=1" -- "${space_args[@]}" 2>&1) ||
  fail "submit.sh failed: $out"
array_id=$(sed -n 's/^array job \([0-9]*\):.*/\1/p' <<<"$out")
merge_id=$(sed -n 's/^merge job \([0-9]*\):.*/\1/p' <<<"$out")
[ -n "$array_id" ] && [ -n "$merge_id" ] || fail "submit.sh printed no job ids: $out"
dep=$(scontrol -o show job "$merge_id" | grep -o 'Dependency=[^ ]*')
[[ $dep == "Dependency=afterok:${array_id}_"* ]] || fail "merge job $merge_id has $dep, not afterok on array $array_id"
wait_gone "$merge_id" 240
for ((i = 0; i < shards; i++)); do
  s=$(job_state "${array_id}_$i")
  [ "$s" = "COMPLETED 0:0" ] || fail "array task ${array_id}_$i ended '$s' (log: $work/slurm/logs/shard-$i.log: $(tail -n 1 "$work/slurm/logs/shard-$i.log" 2>/dev/null))"
done
read -r merge_state merge_exit <<<"$(job_state "$merge_id")"
case $merge_state in
  COMPLETED | FAILED) ;;
  *) fail "merge job $merge_id ended $merge_state $merge_exit (log: $work/slurm/logs/merge.log)" ;;
esac
merge_rc=${merge_exit%%:*}
[ -f "$work/slurm/merged.json" ] || fail "merge job $merge_id wrote no merged.json ($(tail -n 1 "$work/slurm/logs/merge.log"))"
compare "$work/slurm/merged.json" "slurm" "$merge_rc"
# A rerun of one shard (GUPSIM_SHARDS=4 sbatch --array=2, as after a lost task) writes the same JSON again.
mv "$work/slurm/shard-2-of-$shards.json" "$work/slurm/shard-2-first.json"
rerun=$(GUPSIM_SHARDS=$shards GUPSIM_RESULTS=$work/slurm sbatch --parsable --export=ALL --array=2 \
  --output="$work/slurm/logs/rerun-%a.log" "$repo/deploy/slurm/check-array.sbatch" "${space_args[@]}") ||
  fail "sbatch of the rerun of shard 2 failed: $rerun"
rerun=${rerun%%;*}
wait_gone "$rerun" 120
[ "$(job_state "${rerun}_2")" = "COMPLETED 0:0" ] || fail "rerun of shard 2 (job ${rerun}_2) ended '$(job_state "${rerun}_2")'"
cmp -s <(jq -S 'del(.elapsedSeconds)' "$work/slurm/shard-2-first.json") <(jq -S 'del(.elapsedSeconds)' "$work/slurm/shard-2-of-$shards.json") ||
  fail "slurm: shard 2/4 run again gave other JSON than the first time (elapsedSeconds aside)"
t_slurm=$(since "$t")
say "slurm: array $array_id (4 tasks) + merge $merge_id ($merge_state, exit $merge_rc): merged JSON equals the single run's; shard 2 rerun alone gives the same JSON; ${t_slurm} s"

# 7. A shard that fails (bad input: exit 2) must leave the merge job never run: afterok is not satisfied.
t=$(now)
out=$(bash "$repo/deploy/slurm/submit.sh" -n 2 -o "$work/slurm-bad" -t "$GUPSIM" -- --arch no-such-arch 2>&1) ||
  fail "submit.sh (bad space) failed: $out"
bad_array=$(sed -n 's/^array job \([0-9]*\):.*/\1/p' <<<"$out")
bad_merge=$(sed -n 's/^merge job \([0-9]*\):.*/\1/p' <<<"$out")
wait_gone "$bad_merge" 60
s=$(job_state "${bad_array}_0")
[[ $s == "FAILED 2:0" ]] || fail "array task ${bad_array}_0 with --arch no-such-arch ended '$s', not FAILED 2:0"
s=$(job_state "$bad_merge")
[[ $s == CANCELLED* ]] || fail "merge job $bad_merge after a failed shard ended '$s', not CANCELLED (afterok)"
[ ! -e "$work/slurm-bad/merged.json" ] || fail "merge job $bad_merge wrote merged.json although a shard failed"
t_bad=$(since "$t")

# 8. GNU parallel: the same space, as the recipe runs it by default (one shard at a time, each on every core);
#    merged again in reverse file order (merge must not care about the order of its files).
t=$(now)
bash "$repo/deploy/parallel/check.sh" -n $shards -o "$work/parallel" -t "$GUPSIM" -- "${space_args[@]}" \
  >"$work/logs/parallel.out" 2>&1
par_rc=$?
[ $par_rc -le 1 ] || fail "deploy/parallel/check.sh exited $par_rc: $(tail -n 1 "$work/logs/parallel.out")"
compare "$work/parallel/merged.json" "parallel" "$par_rc"
files=()
for ((i = shards - 1; i >= 0; i--)); do files+=("$work/parallel/shard-$i-of-$shards.json"); done
"${gupsim[@]}" check merge "${files[@]}" --json >"$work/parallel/merged-reversed.json"
rev_rc=$?
compare "$work/parallel/merged-reversed.json" "parallel (files in reverse order)" "$rev_rc"
msg=$(bash "$repo/deploy/parallel/check.sh" -n 2 -o "$work/parallel-bad" -t "$GUPSIM" -- --arch no-such-arch 2>&1)
bad_rc=$?
[ $bad_rc -eq 2 ] && [ ! -e "$work/parallel-bad/merged.json" ] ||
  fail "deploy/parallel/check.sh with --arch no-such-arch should exit 2 and merge nothing, got exit $bad_rc: $(tail -n 1 <<<"$msg")"
t_parallel=$(since "$t")

# 9. The Kubernetes manifest (not run on a cluster): its N agrees with itself, and its shard and merge commands, run
#    here under /bin/sh with JOB_COMPLETION_INDEX 0…3 and its /share volume mapped to a directory, merge to the single
#    run's JSON.
t=$(now)
manifest=$repo/deploy/k8s/check-indexed-job.yaml
k8s_n=$(yq -r 'select(.kind == "Job" and .metadata.name == "gupsim-check") | .spec.completions' "$manifest")
k8s_env=$(yq -r 'select(.kind == "Job") | .spec.template.spec.containers[0].env[] | select(.name == "GUPSIM_SHARDS") | .value' "$manifest" | sort -u)
[ "$k8s_env" = "$k8s_n" ] || fail "k8s: completions $k8s_n but GUPSIM_SHARDS '$(echo $k8s_env)' in $manifest"
[ "$(yq -r 'select(.metadata.name == "gupsim-check") | .spec.completionMode' "$manifest")" = Indexed ] ||
  fail "k8s: job gupsim-check is not completionMode: Indexed"
yq -r 'select(.metadata.name == "gupsim-check") | .spec.template.spec.containers[0].args[0]' "$manifest" |
  sed "s|/share/|$work/k8s/|g" >"$work/k8s-shard.sh"
yq -r 'select(.metadata.name == "gupsim-check-merge") | .spec.template.spec.containers[0].args[0]' "$manifest" |
  sed "s|/share/|$work/k8s/|g" >"$work/k8s-merge.sh"
kpids=()
for ((i = 0; i < shards; i++)); do # the pods of an Indexed Job run at once
  JOB_COMPLETION_INDEX=$i GUPSIM_SHARDS=$shards GUPSIM_CHECK_ARGS=$space HOSTNAME=pod-$i \
    /bin/sh "$work/k8s-shard.sh" 2>"$work/logs/k8s-shard-$i.err" &
  kpids+=($!)
done
krc=()
for ((i = 0; i < shards; i++)); do
  wait "${kpids[$i]}"
  krc+=($?)
done
for ((i = 0; i < shards; i++)); do
  [ "${krc[$i]}" -eq 0 ] || fail "k8s: the shard command (index $i) exited ${krc[$i]}: $(tail -n 1 "$work/logs/k8s-shard-$i.err")"
done
# The merge Job succeeds whenever the merge worked (failures found are the sweep's result, not a failed Job) and says
# gupsim check merge's own exit code in its log; a missing shard file fails it with 2.
GUPSIM_SHARDS=$shards /bin/sh "$work/k8s-merge.sh" >"$work/logs/k8s-merge.out" 2>&1
k8s_rc=$?
[ $k8s_rc -eq 0 ] || fail "k8s: the merge command exited $k8s_rc, not 0: $(tail -n 1 "$work/logs/k8s-merge.out")"
grep -q "gupsim check merge exited $single_rc " "$work/logs/k8s-merge.out" ||
  fail "k8s: the merge's log does not say gupsim check merge exited $single_rc: $(tail -n 1 "$work/logs/k8s-merge.out")"
compare "$work/k8s/results/merged.json" "k8s manifest's commands" "$single_rc"
GUPSIM_SHARDS=$((shards + 1)) /bin/sh "$work/k8s-merge.sh" >"$work/logs/k8s-merge-missing.out" 2>&1
k8s_rc=$?
[ $k8s_rc -eq 2 ] || fail "k8s: the merge command with shard $shards of $((shards + 1)) missing exited $k8s_rc, not 2"
t_k8s=$(since "$t")

say "passed: $configurations configurations ($failures failed) in $shards shards, merged by Slurm, by GNU parallel and by the k8s manifest's commands, equal to one run's JSON but elapsedSeconds"
say "times: install ${t_install} s, build ${t_build} s, cluster start ${t_start} s, single run ${t_single} s, slurm array+merge ${t_slurm} s, failing-shard array ${t_bad} s, parallel ${t_parallel} s, k8s commands ${t_k8s} s, total $(since "$t_all") s"
exit 0
