#!/bin/sh
# Runs a command inside a cgroup v1 memory cap (page cache included), as docs/BENCHMARKS.md's
# MoE section does: bench/moe_cgroup.sh GIB COMMAND [ARGS...]. Needs root and cgroup v1's memory
# controller at /sys/fs/cgroup/memory. The group is named after this shell's pid and removed after.
set -eu
gib=$1
shift
cg=/sys/fs/cgroup/memory/flashstream_moe_$$
mkdir "$cg"
echo $((gib * 1024 * 1024 * 1024)) > "$cg/memory.limit_in_bytes"
sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" "$@" && rc=0 || rc=$?
echo "moe_cgroup: peak $(cat "$cg/memory.max_usage_in_bytes") bytes, limit $(cat "$cg/memory.limit_in_bytes"), failcnt $(cat "$cg/memory.failcnt")" >&2
rmdir "$cg"
exit $rc
