#!/usr/bin/env bash
# vudev benchmark: a GPT disk image seen through vudevpartx (/dev/hda, /dev/hda1) against the
# same byte ranges of the image read and written natively with dd; mkfs.ext4 of a 1 GiB partition
# in the view against mkfs.ext4 of a 1 GiB image file. Native and umvu alternate (the order swaps
# on every repetition) in one run: one `umvu --stdio-devices bash` reads the commands from a pipe,
# so umvu's start-up is never timed. Ratios at the end.
#   bash bench/vudev.sh [REPS (default 3)]
# dd's own summary line gives bytes and seconds (the copy, fsync included with conv=fsync; not
# the exec or the open); mkfs is timed with $EPOCHREALTIME around the command. Best of REPS.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
needs sgdisk mkfs.ext4 e2fsck dd truncate awk
built vudev

w=$(mktemp -d "${TMPDIR:-/tmp}/umvu-bench-vudev.XXXXXX")
umvu_pid=
cleanup() {
	if [[ -n $umvu_pid ]] && kill -0 "$umvu_pid" 2>/dev/null; then kill "$umvu_pid" 2>/dev/null || true; fi
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"

# The disk: 1.2 GiB, sparse, one 1 GiB partition at sector 2048.
truncate -s 1200M img
sgdisk -n 1:2048:+1G img >/dev/null
first=$(sgdisk -i 1 img | awk '/^First sector:/ {print $3}')
sectors=$(sgdisk -i 1 img | awk '/^Partition size:/ {print $3}')
off=$((first * 512)) len=$((sectors * 512)) disk=$(stat -c %s img)
wbytes=$((200 << 20))

# ddt ARGS...: run dd, print "BYTES SECONDS" from its summary line (FAIL if dd fails)
ddt() {
	local out
	if ! out=$(dd "$@" 2>&1); then echo "dd $*: $out" >&2; echo FAIL; return; fi
	awk '/ copied, / {print $1, $(NF-3)}' <<<"$out"
}
# timed CMD...: the wall-clock seconds of CMD (FAIL if it fails)
timed() {
	local t0=$EPOCHREALTIME t1
	if ! "$@" >&2; then echo FAIL; return; fi
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f\n", b - a}'
}

# One `umvu bash` for the whole run, its commands from a pipe; every answer is a line "@@ RESULT".
# dd reopens its if= on fd 0 and its of= on fd 1: a device there needs umvu --stdio-devices.
umvu_opts=()
umvu --help 2>&1 | grep -q -e --stdio-devices && umvu_opts=(--stdio-devices)
coproc UMVU { exec umvu "${umvu_opts[@]}" bash 2>"$w/umvu.log"; }
umvu_pid=$UMVU_PID
exec {to_umvu}>&"${UMVU[1]}" {from_umvu}<&"${UMVU[0]}"
umvu_fail() {
	echo "bench: umvu: $1" >&2
	tail -5 "$w/umvu.log" >&2 || true
	exit 1
}
# in_umvu 'COMMAND': run COMMAND in the view, print its output's last line
in_umvu() {
	local line
	printf 'r=$(%s); echo "@@ $r"\n' "$1" >&$to_umvu || umvu_fail "gone (while sending: $1)"
	while read -r -t 120 line <&$from_umvu; do
		[[ $line == @@* ]] && { echo "${line#@@ }"; return; }
	done
	umvu_fail "no answer to: $1"
}
{
	declare -f ddt timed
	printf 'export LC_ALL=C; cd %q || exit 1\n' "$w"
} >&$to_umvu
[[ $(in_umvu 'vu_insmod vudev >&2 && vumount -t vudevpartx img /dev/hda >&2 && echo ok') == ok ]] ||
	umvu_fail "vu_insmod vudev; vumount -t vudevpartx img /dev/hda failed"
[[ $(in_umvu 'blockdev --getsize64 /dev/hda1 2>/dev/null || echo ?') =~ ^($len|\?)$ ]] ||
	umvu_fail "/dev/hda1 is not $len bytes"

# measure NAME 'NATIVE COMMAND' 'UMVU COMMAND' CHECK: REPS of each, alternating; CHECK is the
# bytes dd must report ('' for mkfs). Samples go to the arrays native_NAME and umvu_NAME.
measure() {
	local name=$1 ncmd=$2 ucmd=$3 bytes=$4 i mode r
	local -n ns=native_$name us=umvu_$name
	ns=() us=()
	for ((i = 0; i < reps; i++)); do
		for mode in native umvu; do
			((i % 2)) && mode=$([[ $mode == native ]] && echo umvu || echo native)
			if [[ $name == mkfs ]]; then # a fresh sparse file each time (not timed)
				rm -f m.img p.img
				if [[ $mode == native ]]; then truncate -s 1G m.img
				else truncate -s 1200M p.img && sgdisk -n 1:2048:+1G p.img >/dev/null; fi
			fi
			if [[ $mode == native ]]; then r=$(eval "$ncmd"); else r=$(in_umvu "$ucmd"); fi
			if [[ -n $bytes ]]; then
				[[ $r =~ ^$bytes\ [0-9.e+-]+$ ]] || { echo "bench: $name, $mode: dd reported '$r', not $bytes bytes" >&2; exit 1; }
				r=$(awk -v b="${r% *}" -v s="${r#* }" 'BEGIN {printf "%.0f\n", b / s / 1e6}')
			else
				[[ $r =~ ^[0-9.]+$ ]] || { echo "bench: $name, $mode: failed" >&2; exit 1; }
				if [[ $mode == umvu && -z ${mkfs_fsck:-} ]]; then
					mkfs_fsck=$(e2fsck -fn "p.img?offset=$off" >/dev/null 2>&1 && echo clean || echo NOT-CLEAN)
				fi
			fi
			if [[ $mode == native ]]; then ns+=("$r"); else us+=("$r"); fi
		done
	done
}

# Warm the page cache (the whole image, natively and through the view) and allocate the blocks
# the write test overwrites, so that every timed run starts from the same state.
cat img >/dev/null
dd if=/dev/zero of=img bs=1M count=200 seek=$off oflag=seek_bytes conv=fsync,notrunc status=none
[[ $(in_umvu 'ddt if=/dev/hda of=/dev/null bs=1M') == "$disk "* ]] || umvu_fail "reading /dev/hda failed"

measure part "ddt if=img of=/dev/null bs=1M skip=$off count=$len iflag=skip_bytes,count_bytes" \
	'ddt if=/dev/hda1 of=/dev/null bs=1M' "$len"
measure disk 'ddt if=img of=/dev/null bs=1M' 'ddt if=/dev/hda of=/dev/null bs=1M' "$disk"
measure write "ddt if=/dev/zero of=img bs=1M count=200 seek=$off oflag=seek_bytes conv=fsync,notrunc" \
	'ddt if=/dev/zero of=/dev/hda1 bs=1M count=200 conv=fsync' "$wbytes"
measure mkfs 'timed mkfs.ext4 -F -q m.img' \
	'vumount -t vudevpartx p.img /dev/hdb >&2 && timed mkfs.ext4 -F -q /dev/hdb1; vuumount /dev/hdb >&2' ''
[[ $(in_umvu 'vuumount /dev/hda >&2 && echo ok') == ok ]] || umvu_fail "vuumount /dev/hda failed"
echo exit >&$to_umvu
wait "$umvu_pid" 2>/dev/null || true

max() { printf '%s\n' "$@" | sort -g | tail -1; }
min() { printf '%s\n' "$@" | sort -g | head -1; }
row() { # row LABEL NAME: MB/s, the best of the samples, and umvu's throughput in % of native
	local -n ns=native_$2 us=umvu_$2
	local n u
	n=$(max "${ns[@]}") u=$(max "${us[@]}")
	printf '%-38s %7s MB/s %7s MB/s %6s   %s | %s\n' "$1" "$n" "$u" \
		"$(awk -v n="$n" -v u="$u" 'BEGIN {printf "%.0f%%", 100 * u / n}')" "${ns[*]}" "${us[*]}"
}
secs3() { awk 'BEGIN {for (i = 1; i < ARGC; i++) printf "%s%.3f", (i > 1 ? " " : ""), ARGV[i]}' "$@"; }
echo "vudev benchmark ($(nproc) cores, $(uname -r)); best of $reps, page cache warm; umvu ${umvu_opts[*]} bash"
printf '%-38s %12s %12s %6s   %s\n' workload native umvu umvu/native "samples: native | umvu"
row "read /dev/hda1 (1 GiB, dd bs=1M)" part
row "read /dev/hda (1200 MiB, dd bs=1M)" disk
row "write /dev/hda1 (200 MiB, conv=fsync)" write
n=$(min "${native_mkfs[@]}") u=$(min "${umvu_mkfs[@]}")
printf '%-38s %10.3f s %10.3f s %5.1fx   %s | %s\n' "mkfs.ext4 -F -q, 1 GiB (fresh sparse)" "$n" "$u" \
	"$(awk -v n="$n" -v u="$u" 'BEGIN {print u / n}')" "$(secs3 "${native_mkfs[@]}")" "$(secs3 "${umvu_mkfs[@]}")"
echo
pct=$(awk -v n="$(max "${native_part[@]}")" -v u="$(max "${umvu_part[@]}")" 'BEGIN {printf "%.0f", 100 * u / n}')
echo "read /dev/hda1: umvu at $pct% of native throughput (goal >= 70%: $( ((pct >= 70)) && echo PASS || echo MISS))"
echo "mkfs.ext4 in the view: e2fsck -fn of the partition: ${mkfs_fsck:-not checked}"
