#!/usr/bin/env bash
# Builds the file system images the tests mount, without root, into the cache directory $1
# (default test-images/out): ext2 (a small root file system), ext4 (empty and populated),
# FAT16, FAT32, ISO 9660 (Rock Ridge + Joliet), squashfs, and damaged copies (truncated,
# random bytes over the superblock, over the inode table or FAT) of ext2, FAT, iso and squashfs.
# Contents and mtimes are fixed: the FAT and squashfs images are the same from run to run (ext2/4
# keep the build's ctimes, ISO 9660 its creation dates). About 2 s. Needs e2fsprogs, dosfstools,
# mtools, genisoimage, squashfs-tools and python3.
set -euo pipefail
OUT=$(realpath -m "${1:-$(dirname "$0")/out}")
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export TZ=UTC LC_ALL=C SOURCE_DATE_EPOCH=1577934245 E2FSPROGS_FAKE_TIME=1577934245 MTOOLS_SKIP_CHECK=1
STAMP='2020-01-02 03:04:05'
UUID=0b5e11e0-0000-4000-8000-000000000001

# deterministic pseudo-random bytes: bytes COUNT SEED
bytes() { python3 -c "import random, sys; sys.stdout.buffer.write(random.Random($2).randbytes($1))"; }
# overwrite IMAGE at byte OFFSET with COUNT pseudo-random bytes
smash() { bytes "$3" "$2" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
# a damaged copy: damage NAME SOURCE-IMAGE KIND [OFFSET COUNT]
damage() {
  cp "$2" "$OUT/$1"
  case $3 in
    truncated) truncate -s $(($(stat -c %s "$2") / 8)) "$OUT/$1" ;;
    smash) smash "$OUT/$1" "$4" "$5" ;;
  esac
}

# the tree: a small root file system
T=$WORK/tree
mkdir -p "$T"/{bin,boot,dev,etc,lib,mnt,proc,sbin,tmp,usr/share/doc,usr/lib}
printf 'vuos-test\n' > "$T/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n' > "$T/etc/passwd"
printf '#!/bin/sh\necho hello from the image\n' > "$T/bin/hello"
chmod 755 "$T/bin/hello"
printf 'A readme with a long name.\n' > "$T/usr/share/doc/Read Me First.txt"
printf 'boot config\n' > "$T/boot/config"
bytes 3145728 42 > "$T/usr/lib/big.bin"
seq 1 2000 > "$T/usr/lib/numbers.txt"
ln "$T/bin/hello" "$T/sbin/hello-link"          # a hard link
find "$T" -exec touch -h -d "$STAMP" {} +
# symbolic links only where the file system has them (not FAT)
S=$WORK/tree-links
cp -a "$T" "$S"
ln -s hello "$S/bin/sh"
ln -s /usr/lib "$S/lib64"
ln -s ../etc/hostname "$S/tmp/hostname-link"
find "$S" -exec touch -h -d "$STAMP" {} +

# ext2 / ext4
mkext() { # mkext IMAGE TYPE SIZE_KIB [TREE]
  rm -f "$1"
  mke2fs -q -F -t "$2" -b 1024 -U "$UUID" -E "hash_seed=$UUID,root_owner=0:0" -L vuos ${4:+-d "$4"} "$1" "$3"
}
mkext "$OUT/ext2.img" ext2 8192 "$S"
mkext "$OUT/ext4-empty.img" ext4 8192
mkext "$OUT/ext4.img" ext4 8192 "$S"
inode_table=$(dumpe2fs "$OUT/ext2.img" 2>/dev/null | sed -n 's/^ *Inode table at \([0-9]*\)-.*/\1/p' | head -1)
damage ext2-truncated.img "$OUT/ext2.img" truncated
damage ext2-superblock.img "$OUT/ext2.img" smash 1024 1024
damage ext2-inodes.img "$OUT/ext2.img" smash $((inode_table * 1024)) 4096

# FAT16 / FAT32, populated with mtools
mkfat() { # mkfat IMAGE BITS SIZE_KIB
  rm -f "$1"
  mkfs.vfat -F "$2" -n VUOS -i 0b5e11e0 --invariant -C "$1" "$3" > /dev/null
  mcopy -s -m -i "$1" "$T"/* ::/
}
mkfat "$OUT/fat16.img" 16 20480
mkfat "$OUT/fat32.img" 32 40960
reserved=$(od -An -tu2 -j14 -N2 "$OUT/fat16.img" | tr -d ' ')
damage fat16-truncated.img "$OUT/fat16.img" truncated
damage fat16-superblock.img "$OUT/fat16.img" smash 0 512
damage fat16-fat.img "$OUT/fat16.img" smash $((reserved * 512)) 4096

# ISO 9660 with Rock Ridge and Joliet
genisoimage -quiet -R -J -V VUOS -o "$OUT/iso9660.iso" "$S"
root_extent=$(od -An -tu4 -j$((16 * 2048 + 156 + 2)) -N4 "$OUT/iso9660.iso" | tr -d ' ')
damage iso9660-truncated.iso "$OUT/iso9660.iso" truncated
damage iso9660-superblock.iso "$OUT/iso9660.iso" smash $((16 * 2048)) 2048
damage iso9660-dirs.iso "$OUT/iso9660.iso" smash $((root_extent * 2048)) 2048

# squashfs
rm -f "$OUT/squashfs.img"
mksquashfs "$S" "$OUT/squashfs.img" -quiet -no-progress -noappend -all-root -processors 1 > /dev/null
inode_start=$(od -An -tu8 -j64 -N8 "$OUT/squashfs.img" | tr -d ' ')
damage squashfs-truncated.img "$OUT/squashfs.img" truncated
damage squashfs-superblock.img "$OUT/squashfs.img" smash 0 96
damage squashfs-inodes.img "$OUT/squashfs.img" smash "$inode_start" 512

ls "$OUT"
