#!/usr/bin/env bash
# vufuse benchmark: reading an ext4 image through vufuseext2 (fuse2fs run by the view) against
# the same bytes natively and, as root, through kernel FUSE fuse2fs; untar and ls -lR on an
# rw+ ext4 image against a host directory. Everything in one run; ratios at the end.
#   bash bench/vufuse.sh [SIZE_MB (default 200)]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=$here/../packages/cli/bin:$PATH
size=${1:-200}
for tool in fuse2fs mkfs.ext4 tar; do command -v $tool >/dev/null || { echo "bench: $tool is needed" >&2; exit 2; }; done
w=$(mktemp -d /tmp/umvu-bench-vufuse.XXXXXX)
trap 'mountpoint -q "$w/kmnt" 2>/dev/null && umount "$w/kmnt"; rm -rf "$w"' EXIT
cd "$w"
mkdir src mnt kmnt host
head -c "${size}M" /dev/urandom > src/big
mkfs.ext4 -q -F -d src img.ext4 $((size + 100))M
tar -C /usr/share -cf doc.tar doc
entries=$(tar tf doc.tar | wc -l)
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

# sequential read: native (page cache), umvu (first and second open), kernel FUSE (first, root only)
cat src/big > /dev/null
t0=$(now); cat src/big > /dev/null; t1=$(now); native_read=$(secs "$t0" "$t1")
read -r umvu_read1 umvu_read2 < <(umvu bash -c '
  vu_insmod vufuse; vumount -t vufuseext2 -o ro img.ext4 mnt 2>/dev/null
  t0=$(date +%s.%N); cat mnt/big > /dev/null; t1=$(date +%s.%N); cat mnt/big > /dev/null; t2=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"; vuumount mnt' 2>/dev/null | grep -E '^[0-9. ]+$' | tail -1)
kernel_read=
if [[ $(id -u) == 0 ]] && fuse2fs -o ro img.ext4 kmnt >/dev/null 2>&1; then
  t0=$(now); cat kmnt/big > /dev/null; t1=$(now); kernel_read=$(secs "$t0" "$t1")
  umount kmnt
fi

# untar and ls -lR: host directory vs an rw+ ext4 image
t0=$(now); tar -C host -xf doc.tar; t1=$(now); native_untar=$(secs "$t0" "$t1")
t0=$(now); ls -lR host > /dev/null; t1=$(now); native_ls=$(secs "$t0" "$t1")
mkfs.ext4 -q -F w.ext4 $(( $(stat -c %s doc.tar) / 1048576 * 3 + 64 ))M
read -r umvu_untar umvu_ls umvu_umount < <(umvu bash -c '
  vu_insmod vufuse; vumount -t vufuseext2 -o rw+ w.ext4 mnt 2>/dev/null
  t0=$(date +%s.%N); tar -C mnt -xf doc.tar; t1=$(date +%s.%N); ls -lR mnt > /dev/null; t2=$(date +%s.%N); vuumount mnt; t3=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc) $(echo "$t3 - $t2" | bc)"' 2>/dev/null | grep -E '^[0-9. ]+$' | tail -1)
fsck=$(e2fsck -fn w.ext4 >/dev/null 2>&1 && echo clean || echo NOT-CLEAN)
kernel_untar= kernel_ls=
if [[ -n $kernel_read ]]; then
  mkfs.ext4 -q -F k.ext4 $(( $(stat -c %s doc.tar) / 1048576 * 3 + 64 ))M
  if fuse2fs k.ext4 kmnt >/dev/null 2>&1; then
    t0=$(now); tar -C kmnt -xf doc.tar; t1=$(now); ls -lR kmnt > /dev/null; t2=$(now)
    kernel_untar=$(secs "$t0" "$t1") kernel_ls=$(secs "$t1" "$t2")
    umount kmnt
  fi
fi

mbs() { echo "scale=0; $size / $1" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }
echo "vufuse benchmark ($(nproc) cores, $(uname -r))"
printf '%-44s %8s %10s\n' workload seconds MB/s
printf '%-44s %8.3f %10s\n' "read ${size} MB, native (page cache)" "$native_read" "$(mbs "$native_read")"
printf '%-44s %8.3f %10s\n' "read ${size} MB, umvu vufuseext2 (first open)" "$umvu_read1" "$(mbs "$umvu_read1")"
printf '%-44s %8.3f %10s\n' "read ${size} MB, umvu vufuseext2 (again)" "$umvu_read2" "$(mbs "$umvu_read2")"
[[ -n $kernel_read ]] && printf '%-44s %8.3f %10s\n' "read ${size} MB, kernel FUSE fuse2fs (first)" "$kernel_read" "$(mbs "$kernel_read")"
printf '%-44s %8.3f\n' "untar /usr/share/doc ($entries entries), host dir" "$native_untar"
printf '%-44s %8.3f\n' "untar /usr/share/doc, umvu rw+ ext4" "$umvu_untar"
[[ -n $kernel_untar ]] && printf '%-44s %8.3f\n' "untar /usr/share/doc, kernel FUSE fuse2fs" "$kernel_untar"
printf '%-44s %8.3f\n' "ls -lR, host dir" "$native_ls"
printf '%-44s %8.3f\n' "ls -lR, umvu rw+ ext4" "$umvu_ls"
[[ -n $kernel_ls ]] && printf '%-44s %8.3f\n' "ls -lR, kernel FUSE fuse2fs" "$kernel_ls"
printf '%-44s %8.3f   (e2fsck -fn: %s)\n' "vuumount (daemon flushes the image)" "$umvu_umount" "$fsck"
echo
[[ -n $kernel_read ]] && echo "read: umvu first open at $(ratio "$kernel_read" "$umvu_read1")x the speed of kernel FUSE fuse2fs (goal >= 0.50)"
echo "read: umvu first open at $(ratio "$native_read" "$umvu_read1")x the speed of the page cache"
echo "untar: umvu/native $(ratio "$umvu_untar" "$native_untar")x; ls -lR: umvu/native $(ratio "$umvu_ls" "$native_ls")x"
[[ -n $kernel_untar ]] && echo "untar: umvu/kernel FUSE $(ratio "$umvu_untar" "$kernel_untar")x; ls -lR: umvu/kernel FUSE $(ratio "$umvu_ls" "$kernel_ls")x"
