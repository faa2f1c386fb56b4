#!/usr/bin/env bash
# vunet benchmark: TCP throughput of vdestack views (vumount -t vunetvdestack, vustack).
#   1. loopback: a sender and a receiver (python3, one connection, BYTES_LO) both inside ONE view,
#      over the stack's own lo, against the same pair natively on the host's 127.0.0.1 (and, as a
#      reference, under umvu on the host's stack: no vustack);
#   2. VDE: a receiver in one view and a sender in another, over a vde_switch this script starts,
#      through vde0 as a tap (root's default) and as a veth pair (mount option veth).
# Every sample is its own run (the modes alternate, the order swaps on every repetition); the
# receiver times from accept() to the sender's EOF, so umvu's start-up and the mount are never
# timed. Best of 2*REPS loopback samples (they are short) and of REPS VDE ones, all shown.
#   bash bench/vunet.sh [REPS (default 3)]
# Network: only loopback (the host's 127.0.0.1, and lo inside the views' private namespaces) and
# 10.250.0.0/24 on vde0 inside those namespaces, joined only by the switch started here.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
needs python3 vde_switch ip timeout awk
built vunet
# the interpreter itself (not a pyenv-style shim: its start-up would run through umvu each time)
py=$(python3 -c 'import sys; print(sys.executable)')
bytes_lo=$((1 << 30)) bytes_vde=$((256 << 20))

w=$(mktemp -d "${TMPDIR:-/tmp}/umvu-bench-vunet.XXXXXX")
pids=() # background views (timeout's pids: a TERM reaches umvu)
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [[ -s $w/switch.pid ]]; then
		p=$(<"$w/switch.pid")
		# only the switch started here (its pid file could be stale)
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "-s $w/switch"; then kill "$p" 2>/dev/null || true; fi
	fi
	rm -rf "$w"
}
trap cleanup EXIT
trap "exit 130" INT TERM
cd "$w"

# The TCP pair. `recv HOST PORT`: listen, say "@@ listening", take one connection, print
# "@@ BYTES SECONDS PEER" (accept to EOF). `send HOST PORT BYTES`: connect (retrying up to 20 s),
# send, shut down, wait for the receiver's close. `pair HOST BYTES`: both, the sender a child.
# Every socket has a timeout.
cat >tcp.py <<'EOF'
import os, socket, sys, time
CHUNK = 1 << 20
def receive(ls):
    conn, peer = ls.accept()
    ls.close()
    conn.settimeout(60)
    buf = memoryview(bytearray(CHUNK))
    got, t0 = 0, time.monotonic()
    while n := conn.recv_into(buf):
        got += n
    secs = time.monotonic() - t0
    conn.close()
    return f'@@ {got} {secs:.6f} {peer[0]}'
def send(host, port, total):
    end = time.monotonic() + 20
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > end: raise
            time.sleep(0.05)
    conn.settimeout(60)
    data = memoryview(bytes(CHUNK))
    while total > 0:
        n = min(total, CHUNK)
        conn.sendall(data[:n])
        total -= n
    conn.shutdown(socket.SHUT_WR)
    conn.recv(1)
    conn.close()
def listener(host, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    ls.settimeout(30)
    return ls
mode, host = sys.argv[1], sys.argv[2]
if mode == 'send':
    send(host, int(sys.argv[3]), int(sys.argv[4]))
elif mode == 'recv':
    ls = listener(host, int(sys.argv[3]))
    print('@@ listening', flush=True)
    print(receive(ls), flush=True)
else:  # pair
    ls = listener(host, 0)
    port = ls.getsockname()[1]
    child = os.fork()
    if child == 0:
        code = 1
        try:
            ls.close()
            send(host, port, int(sys.argv[3]))
            code = 0
        finally:
            os._exit(code)
    line = receive(ls)
    _, status = os.waitpid(child, 0)
    if status: sys.exit('sender failed')
    print(line, flush=True)
EOF

# The switch: in the temporary directory, no management socket, no uplink.
vde_switch -d -s "$w/switch" -m 0777 --dirmode 0777 -p "$w/switch.pid"
for ((i = 0; i < 50; i++)); do [[ -S $w/switch/ctl && -s $w/switch.pid ]] && break; sleep 0.1; done
[[ -S $w/switch/ctl ]] || { echo "bench: vde_switch did not start" >&2; exit 1; }

# view OPTS 'COMMAND': COMMAND in a new umvu with a vdestack on the switch at /dev/net/s (mount
# options OPTS: '' or '-o veth'), run by vustack (bounded by timeout)
view() {
	timeout 90 umvu bash -c "vu_insmod vunet >&2 && vumount -t vunetvdestack $1 vde://$w/switch /dev/net/s >&2 &&
		exec vustack /dev/net/s bash -c $(printf %q "$2")"
}
# up N: the view's vde0 gets 10.250.0.N/24 and goes up. addrgenmode none: no IPv6 link-local
# address, so the view sends nothing by itself (no DAD, no router solicitations): only the
# measured connection and its ARP are on the switch. (Before 94260ab such a frame reaching a
# view whose tap was still down stopped that view's pump for good.)
up() { echo "ip link set vde0 addrgenmode none && ip addr add 10.250.0.$1/24 dev vde0 && ip link set vde0 up"; }

fail() { echo "bench: $1" >&2; for f in "$w"/*.err; do [[ -s $f ]] && { echo "== ${f##*/}" >&2; tail -5 "$f" >&2; }; done; exit 1; }
# rate "@@ BYTES SECONDS PEER" EXPECTED_BYTES PEER LABEL: Mbit/s into $mbit, or fail
# (no command substitutions around these: fail must end the script itself)
rate() {
	local -a f
	read -ra f <<<"$1"
	[[ ${f[0]:-} == @@ && ${f[1]:-} == "$2" && ${f[3]:-} == "$3" ]] || fail "$4: the receiver reported '$1', not $2 bytes from $3"
	mbit=$(awk -v b="${f[1]}" -v s="${f[2]}" 'BEGIN {printf "%.0f\n", b * 8 / s / 1e6}')
}

# 1. loopback
lo_native() { timeout 60 "$py" tcp.py pair 127.0.0.1 $bytes_lo 2>lo.err | tail -1; }
lo_umvu() { timeout 60 umvu "$py" tcp.py pair 127.0.0.1 $bytes_lo 2>lo.err | tail -1; }
lo_view() { view '' "$py tcp.py pair 127.0.0.1 $bytes_lo" 2>lo.err | tail -1; }
modes=(native view umvu)
native_lo=() view_lo=() umvu_lo=()
for ((i = 0; i < 2 * reps; i++)); do
	for ((k = 0; k < 3; k++)); do
		m=${modes[(i + k) % 3]}
		r=$("lo_$m" || true)
		rate "$r" $bytes_lo 127.0.0.1 "loopback, $m"
		declare -n samples=${m}_lo
		samples+=("$mbit")
		unset -n samples
	done
done

# 2. two views over the switch: the receiver's view first (until it listens), then the sender's
vde_run() { # vde_run OPTS LABEL: one transfer, its Mbit/s into $mbit
	local opts=$1 label=$2 t r
	rm -f recv.out
	view "$opts" "$(up 1) && ip -d -o link show vde0 >&2 && exec $py tcp.py recv 10.250.0.1 5201" >recv.out 2>recv.err &
	pids+=($!)
	for ((t = 0; t < 200; t++)); do grep -q '^@@ listening' recv.out 2>/dev/null && break; sleep 0.1; done
	grep -q '^@@ listening' recv.out || fail "$label: the receiving view did not start"
	# the kind of vde0 the receiving view got (a tap, or a veth)
	grep -q "$([[ $label == tap ]] && echo 'tun type tap' || echo 'veth')" recv.err ||
		fail "$label: the view's vde0 is not a $label ($(grep -o 'vde0.*' recv.err | head -1))"
	view "$opts" "$(up 2) && exec $py tcp.py send 10.250.0.1 5201 $bytes_vde" >/dev/null 2>send.err ||
		fail "$label: the sending view failed"
	wait "${pids[-1]}" || true
	unset 'pids[-1]'
	rate "$(grep -v listening recv.out | tail -1)" $bytes_vde 10.250.0.2 "VDE, $label"
}
tap_vde=() veth_vde=()
for ((i = 0; i < reps; i++)); do
	if ((i % 2)); then order=(veth tap); else order=(tap veth); fi
	for m in "${order[@]}"; do
		vde_run "$([[ $m == veth ]] && echo '-o veth')" $m
		declare -n samples=${m}_vde
		samples+=("$mbit")
		unset -n samples
	done
done

max() { printf '%s\n' "$@" | sort -g | tail -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
pct() { awk -v n="$1" -v u="$2" 'BEGIN {printf "%.0f", 100 * u / n}'; }
verdict() { (($1 >= 90)) && echo PASS || echo MISS; }
gbit() { awk -v m="$1" 'BEGIN {printf "%.1f", m / 1000}'; }
gbits() { local s=() x; for x in "$@"; do s+=("$(gbit "$x")"); done; echo "${s[*]}"; }
n=$(max "${native_lo[@]}") v=$(max "${view_lo[@]}") u=$(max "${umvu_lo[@]}")
pb=$(pct "$n" "$v") pm=$(pct "$(median "${native_lo[@]}")" "$(median "${view_lo[@]}")")
echo "vunet benchmark ($(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)); best of $((2 * reps)) (loopback) and $reps (VDE), python3 $($py -c 'import platform; print(platform.python_version())'), one TCP connection"
echo
echo "1. loopback, $((bytes_lo >> 20)) MiB"
printf '  %-48s %6s Gbit/s   %s\n' "native, host 127.0.0.1" "$(gbit "$n")" "$(gbits "${native_lo[@]}")"
printf '  %-48s %6s Gbit/s   %s\n' "umvu, both in one vdestack view, the stack's lo" "$(gbit "$v")" "$(gbits "${view_lo[@]}")"
printf '  %-48s %6s Gbit/s   %s\n' "umvu, host stack (no vustack), 127.0.0.1 (ref.)" "$(gbit "$u")" "$(gbits "${umvu_lo[@]}")"
echo "  the view in % of native: best $pb% ($(verdict "$pb")), median $pm% ($(verdict "$pm")); goal >= 90%" \
	"(host stack under umvu: best $(pct "$n" "$u")%, median $(pct "$(median "${native_lo[@]}")" "$(median "${umvu_lo[@]}")")%)"
echo
echo "2. two views over vde_switch (vde://, MTU 1500), $((bytes_vde >> 20)) MiB"
printf '  %-48s %6s Mbit/s   %s\n' "tap (default as root)" "$(max "${tap_vde[@]}")" "${tap_vde[*]}"
printf '  %-48s %6s Mbit/s   %s\n' "veth + packet socket (-o veth)" "$(max "${veth_vde[@]}")" "${veth_vde[*]}"
printf '  %-48s %6s Mbit/s\n' "anchor: vde_plug (MTU 1500)" 763
printf '  %-48s %6s Mbit/s\n' "anchor: slirp4netns (MTU 1500)" 1070
