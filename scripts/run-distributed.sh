#!/usr/bin/env bash
# One load test over many hosts, fanned out with pdsh, merged into one results.csv.
#
#   scripts/run-distributed.sh -w HOSTS [-R exec|ssh] [-o DIR] [-s SECONDS] -- URL [barrage run options]
#
#   -w HOSTS    pdsh host list: "h1,h2,h3" or "web[1-8]"
#   -R exec     hosts are network namespaces on this machine: each shard runs as
#               `ip netns exec HOST barrage ...` (tests and local trials)
#   -R ssh      (default) hosts are reached over ssh; barrage must be installed there
#               (BARRAGE=/path/to/barrage on the remote side, default `barrage`); each
#               host's run directory is copied back with scp
#   -o DIR      where the per-host run directories and the merged results go
#               [./barrage-runs/dist-<UTC time>]
#   -s SECONDS  start the load this long after launch, on every host at once [5]
#   MERGE_COLUMNS=host,...  extra columns for the merged results.csv (see barrage merge)
#
# Every host runs `barrage run ... --shard %n/N --start-at T --run-id ID --host-id %h`:
# its exact share of -c, -n and the rate (options after -- are the whole test's), all
# starting at the same wall-clock instant. The hosts' clocks must be synchronised
# (chrony/NTP): see docs/distributed.md. Afterwards the per-host directories are
# merged (`barrage merge`, which checks every shard is there exactly once) and the
# report is written. Locally (the -R exec shards, the merge, the report) this
# checkout's barrage runs, built first with cargo; missing pdsh and iproute2 are
# installed when run as root.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hosts="" rcmd=ssh out="" start_in=5
while getopts "w:R:o:s:h" opt; do
    case "$opt" in
        w) hosts="$OPTARG" ;;
        R) rcmd="$OPTARG" ;;
        o) out="$OPTARG" ;;
        s) start_in="$OPTARG" ;;
        *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
if [ -z "$hosts" ] || [ $# -eq 0 ]; then
    echo "usage: $0 -w HOSTS [-R exec|ssh] [-o DIR] [-s SECONDS] -- URL [barrage run options]" >&2
    exit 2
fi
case "$rcmd" in exec|ssh) ;; *) echo "-R must be exec or ssh, not $rcmd" >&2; exit 2 ;; esac
remote_bin="${BARRAGE:-barrage}"   # -R ssh: the binary on the hosts (build_barrage sets BARRAGE)
if [ "$rcmd" = exec ]; then
    need pdsh:pdsh python3:python3 ip:iproute2
else
    need pdsh:pdsh python3:python3 scp:openssh-client
fi

# The merge, the report and (with -R exec) every shard run this build.
build_barrage
local_bin="$BARRAGE"

# Expand the host list the way pdsh does, to count the shards.
mapfile -t names < <(pdsh -R exec -w "$hosts" echo %h 2>/dev/null | sed 's/^[^:]*: //' | sort -u)
n=${#names[@]}
[ "$n" -gt 0 ] || { echo "no hosts in $hosts" >&2; exit 1; }

stamp=$(date -u +%Y%m%d-%H%M%S)
out="${out:-$PWD/barrage-runs/dist-$stamp}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
run_id="dist-$stamp-$$"
start_at=$(python3 -c "import time; print(f'{time.time() + $start_in:.3f}')")
echo "barrage distributed: $n hosts ($hosts), start at $start_at, run $run_id -> $out" >&2

shard_args=(--shard "%n/$n" --start-at "$start_at" --run-id "$run_id" --host-id %h -q)
status=0
if [ "$rcmd" = exec ]; then
    # pdsh's exec module runs the command directly (no shell), %h and %n substituted.
    pdsh -S -R exec -f "$n" -w "$hosts" ip netns exec %h "$local_bin" run "$@" "${shard_args[@]}" -o "$out/%h" || status=$?
else
    remote_dir="/tmp/barrage-dist/$run_id"
    # ssh runs a shell on the far side: quote every argument.
    cmd=$(printf '%q ' "$remote_bin" run "$@" "${shard_args[@]}" -o "$remote_dir/%h")
    pdsh -S -R ssh -f "$n" -w "$hosts" "$cmd" || status=$?
    for h in "${names[@]}"; do
        scp -q -r "$h:$remote_dir/$h" "$out/$h" || { echo "cannot copy $h's results" >&2; status=1; }
    done
fi
[ "$status" = 0 ] || echo "barrage distributed: a host reported a problem (status $status); merging what there is" >&2

dirs=()
for h in "${names[@]}"; do dirs+=("$out/$h"); done
"$local_bin" merge "${dirs[@]}" -o "$out/results.csv" ${MERGE_COLUMNS:+--columns "$MERGE_COLUMNS"}
"$local_bin" report "${dirs[@]}" -o "$out"
echo "barrage distributed: results in $out/results.csv, report in $out/report.html" >&2
exit "$status"
