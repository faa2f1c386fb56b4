#!/usr/bin/env bash
# Ownership without an image: `tar xpf` of /usr/share/doc (packed once, root-owned) unpacked
#   - natively by real root (when this script runs as root),
#   - by fakeroot tar as an unprivileged user (the anchor: what such users run today),
#   - in umvu by virtual root (unrealuidgid + vusu) into a vufs cow layer, as that user,
#   - in umvu by the plain user into a cow layer (tar keeps no owners then),
# then `tar cpf` of the result, timed alike. Best of REPS; ratios at the end.
#   bash bench/vufs-owners.sh [REPS (default 3)]
# As root, the unprivileged runs are made as `nobody` (setpriv). umvu's start-up, insmod and
# vumount are not timed: each run times its tar commands with $EPOCHREALTIME inside the view.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
needs tar fakeroot awk setpriv
built vufs unrealuidgid

w=$(mktemp -d "${TMPDIR:-/tmp}/umvu-bench-owners.XXXXXX")
trap 'rm -rf "$w"' EXIT
chmod 755 "$w"
tar -C /usr/share -cf "$w/doc.tar" doc
files=$(tar -tf "$w/doc.tar" | wc -l)
size=$(du -sm /usr/share/doc | cut -f1)

user=()
if [[ $(id -u) == 0 ]]; then
	user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
	chown 65534:65534 "$w"
fi
as_user() { "${user[@]}" env PATH="$PATH" LC_ALL=C HOME="$w" "$@"; }

# pair.sh DIR: "UNPACK PACK", the seconds of tar xpf into DIR (fresh) and of tar cpf of it
cat >"$w/pair.sh" <<EOF
t0=\$EPOCHREALTIME; tar -C \$1 -xpf $w/doc.tar; t1=\$EPOCHREALTIME; tar -C \$1 -cpf \$1.tar .; t2=\$EPOCHREALTIME
awk -v a=\$t0 -v b=\$t1 -v c=\$t2 'BEGIN {printf "%.4f %.4f\\n", b - a, c - b}'
EOF

native() { local d=$w/n$1; mkdir "$d"; bash "$w/pair.sh" "$d"; }
fake() { local d=$w/f$1; as_user mkdir "$d"; as_user fakeroot bash "$w/pair.sh" "$d"; }
view() { # N root|user
	local d=$w/v$1
	as_user mkdir "$d" "$d.layer"
	local inner="vumount -t vufs -o cow $d.layer $d && bash $w/pair.sh $d"
	if [[ $2 == root ]]; then
		as_user umvu -N bash -c "vu_insmod unrealuidgid vufs && vusu -m -c '$inner'"
	else
		as_user umvu -N bash -c "vu_insmod vufs && $inner"
	fi
}

declare -A best
keep() { # NAME "UNPACK PACK"
	local u p
	read -r u p <<<"$2"
	if [[ -z ${best[$1.x]:-} ]] || awk -v a="$u" -v b="${best[$1.x]}" 'BEGIN {exit !(a < b)}'; then best[$1.x]=$u; fi
	if [[ -z ${best[$1.c]:-} ]] || awk -v a="$p" -v b="${best[$1.c]}" 'BEGIN {exit !(a < b)}'; then best[$1.c]=$p; fi
}
for ((i = 1; i <= reps; i++)); do
	[[ $(id -u) == 0 ]] && keep native "$(native $i)"
	keep fakeroot "$(fake $i)"
	keep umvu-root "$(view $i root)"
	keep umvu-user "$(view u$i user)"
	find "$w" -mindepth 1 -maxdepth 1 ! -name doc.tar ! -name pair.sh -exec rm -rf {} +
done

echo "tar of /usr/share/doc: $files entries, $size MB; best of $reps"
printf '%-34s %10s %10s\n' '' 'xpf (s)' 'cpf (s)'
row() { printf '%-34s %10s %10s\n' "$1" "${best[$2.x]:-n/a}" "${best[$2.c]:-n/a}"; }
row 'native, real root' native
row 'fakeroot, user' fakeroot
row 'umvu vusu + vufs cow, user' umvu-root
row 'umvu vufs cow, user (no owners)' umvu-user
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "") print "n/a"; else printf "%.2fx\n", a / b}'; }
echo "umvu virtual root / fakeroot:   xpf $(ratio "${best[umvu-root.x]}" "${best[fakeroot.x]}")  cpf $(ratio "${best[umvu-root.c]}" "${best[fakeroot.c]}")"
echo "umvu virtual root / native root: xpf $(ratio "${best[umvu-root.x]}" "${best[native.x]:-}")  cpf $(ratio "${best[umvu-root.c]}" "${best[native.c]:-}")"
