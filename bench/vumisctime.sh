#!/usr/bin/env bash
# vumisctime benchmark: what a virtual clock costs.
#   1. 1e6 clock_gettime(CLOCK_REALTIME) (clock_loop.c): natively (the vDSO; and, for scale, as
#      raw system calls), in umvu without a time mount (the vDSO), and in umvu with vumisctime
#      mounted (system calls: the program runs without the vDSO; the listener answers them);
#   2. the cost per exec of hiding the vDSO: 500 runs of /bin/true (bash's fork, exec, wait)
#      natively, in umvu without a mount, with a vudevnull mount (a virtual file system: execs
#      are resolved by umvu, nothing is traced) and with vumisctime (the same, plus the trace).
# Loops and timings run inside the views: umvu's start-up is never timed. Best of REPS.
#   bash bench/vumisctime.sh [REPS (default 3)]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
needs gcc awk
built vumisc vudev
out=$root/bench/out
mkdir -p "$out"
[[ -x $out/clock_loop && $out/clock_loop -nt $root/bench/clock_loop.c ]] || gcc -O2 -Wall -o "$out/clock_loop" "$root/bench/clock_loop.c"
loop=$out/clock_loop calls=1000000 runs=500

w=$(mktemp -d "${TMPDIR:-/tmp}/umvu-bench-vumisctime.XXXXXX")
trap 'rm -rf "$w"' EXIT
cd "$w"

# The measurements, as functions the views get too: each prints one number.
# ns MODE: ns per clock_gettime; execs: µs per /bin/true
ns() { "$loop" "$1" "$calls" | sed 's/^ns_per_call=//'; }
execs() {
	local t0=$EPOCHREALTIME t1 i
	for ((i = 0; i < runs; i++)); do /bin/true; done
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" -v n="$runs" 'BEGIN {printf "%.1f\n", (b - a) * 1e6 / n}'
}
export loop calls runs
export -f ns execs

# In one view: no mount, then a vudevnull mount, then vumisctime instead.
view() {
	umvu -N bash -c '
		echo "nomount $(ns libc) $(execs)"
		vu_insmod vudev vumisc || exit 1
		vumount -t vudevnull none "$PWD/null" || exit 1
		echo "vfs - $(execs)"
		vuumount "$PWD/null"
		vumount -t vumisctime none "$PWD/clock" || exit 1
		[ "$(cat "$PWD/clock/frequency")" = 1.000000 ] || exit 1
		echo "clock $(ns libc) $(execs)"
		vuumount "$PWD/clock"'
}

declare -A best
keep() { # keep NAME VALUE: the smallest
	[[ -z ${best[$1]:-} ]] || awk -v a="$2" -v b="${best[$1]}" 'BEGIN {exit !(a < b)}' && best[$1]=$2
	return 0
}
for ((rep = 0; rep < reps; rep++)); do
	keep native_vdso "$(ns libc)"
	keep native_syscall "$(ns syscall)"
	keep native_exec "$(execs)"
	while read -r what clock exec; do
		[[ $clock == - ]] || keep "${what}_clock" "$clock"
		keep "${what}_exec" "$exec"
	done < <(view)
done
for k in native_vdso native_syscall native_exec nomount_clock nomount_exec vfs_exec clock_clock clock_exec; do
	[[ -n ${best[$k]:-} ]] || { echo "bench: no result for $k (umvu failed?)" >&2; exit 1; }
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", a / b}'; }
plus() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.0f", a - b}'; }
echo "vumisctime benchmark ($(nproc) cores, $(uname -r)); best of $reps"
echo
row() { printf '%-62s %10s %9s\n' "$@"; }
# line LABEL KEY BASE-KEY: a measurement and its ratio to the native one
line() { row "$1" "${best[$2]}" "$(ratio "${best[$2]}" "${best[$3]}")"; }
row "clock_gettime(CLOCK_REALTIME), $calls calls" 'ns/call' 'vs native'
line 'native (vDSO)' native_vdso native_vdso
line 'native, raw system calls (no vDSO: for scale)' native_syscall native_vdso
line 'umvu, no time mount (vDSO)' nomount_clock native_vdso
line 'umvu, vumisctime (system calls answered by the listener)' clock_clock native_vdso
echo
row "exec: /bin/true run by bash, $runs times" 'µs/exec' 'vs native'
line 'native' native_exec native_exec
line 'umvu, no mount' nomount_exec native_exec
line 'umvu, a vudevnull mount (execs resolved by umvu)' vfs_exec native_exec
line 'umvu, vumisctime (the same, and the vDSO hidden)' clock_exec native_exec
echo
echo "hiding the vDSO: $(plus "${best[clock_exec]}" "${best[vfs_exec]}") µs per exec over another virtual file system mount, $(plus "${best[clock_exec]}" "${best[nomount_exec]}") µs over no mount"
echo "a virtual clock read: $(ratio "${best[clock_clock]}" "${best[native_syscall]}") a raw system call's cost, $(ratio "${best[clock_clock]}" "${best[native_vdso]}") the vDSO's"
