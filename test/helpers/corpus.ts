/**
 * Shared material for the transparency corpus: a deterministic scratch tree, a big text file,
 * a small multi-file C project, and the commands run on them (used both as root and as the
 * unprivileged user).
 */
import fs from 'node:fs';
import path from 'node:path';
import { bash, prepare, type RunResult, type TestUser } from './compare.js';
import assert from 'node:assert/strict';

/** Every mtime/atime in the scratch tree (directories and symlinks included). */
export const FIXED_TIME = '2001-02-03 04:05:06.123456789 UTC';

/**
 * Creates DIR/tree: nested directories, empty/small/page-sized/sparse/binary files, symlinks
 * (relative, absolute, dangling, to a directory), a hard link, a FIFO, names with spaces, a
 * newline and UTF-8, modes 600/444/755/700/1777/2775; then fixes every timestamp.
 * Run as `user` when given, so that the tree belongs to it.
 */
export function makeTree(dir: string, user?: TestUser): string {
  prepare(
    `
    cd "${dir}"
    mkdir -p tree/a/b/c tree/empty-dir "tree/with space" tree/sticky tree/setgid "tree/ünïcödé"
    printf 'hello\\n' > tree/a/hello.txt
    : > tree/a/empty
    head -c 4096 /dev/zero > tree/a/b/zeros
    seq 1 5000 > tree/a/b/numbers
    python3 -c 'import sys; x = 12345
b = bytearray()
for i in range(100000):
    x = (x * 1103515245 + 12345) & 0x7fffffff
    b.append(x >> 16 & 255)
sys.stdout.buffer.write(b)' > tree/a/b/c/random.bin
    printf '#!/bin/sh\\necho script\\n' > tree/a/run.sh
    truncate -s 1M tree/a/sparse
    printf 'x' | dd of=tree/a/sparse bs=1 seek=524288 conv=notrunc 2>/dev/null
    ln -s hello.txt tree/a/link
    ln -s /nonexistent/target tree/a/dangling
    ln -s a tree/b-link-to-a
    ln tree/a/hello.txt tree/a/hardlink
    mkfifo tree/a/fifo
    printf 'spaced\\n' > "tree/with space/file name"
    printf 'nl\\n' > "tree/with space/new
line"
    printf 'utf8\\n' > "tree/ünïcödé/fïlé"
    touch "tree/a/$(printf 'x%.0s' $(seq 1 200))"
    chmod 755 tree/a/run.sh
    chmod 600 tree/a/b/zeros
    chmod 444 tree/a/b/numbers
    chmod 700 tree/a/b/c
    chmod 1777 tree/sticky
    chmod 2775 tree/setgid
    chmod 640 tree/a/hello.txt
    find tree -depth -exec touch -h -d '${FIXED_TIME}' {} +
    `,
    { user },
  );
  return path.join(dir, 'tree');
}

/** DIR/big.txt: 200,000 deterministic lines "word,number,hex". */
export function makeBigFile(dir: string, user?: TestUser): string {
  const file = path.join(dir, 'big.txt');
  const lines: string[] = [];
  let x = 987654321;
  for (let i = 0; i < 200_000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = (x >>> 8).toString(36);
    lines.push(`${w},${x % 100000},${(x ^ i).toString(16)}`);
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  if (user) fs.chownSync(file, user.uid, user.gid);
  return file;
}

/** DIR/cproject: 8 .c files, a header and a Makefile building `prog` (which exits 7). */
export function makeCProject(dir: string, user?: TestUser): string {
  const src = path.join(dir, 'cproject');
  fs.mkdirSync(src, { recursive: true });
  const N = 8;
  let header = '#pragma once\n#include <stdio.h>\n#include <stdint.h>\n';
  for (let i = 0; i < N; i++) header += `uint64_t part${i}(uint64_t seed);\n`;
  fs.writeFileSync(path.join(src, 'parts.h'), header);
  for (let i = 0; i < N; i++) {
    fs.writeFileSync(
      path.join(src, `part${i}.c`),
      `#include "parts.h"
/* part ${i}: a little deterministic arithmetic, enough to make the compiler work */
static uint64_t mix${i}(uint64_t x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL + ${i}; x ^= x >> 29; return x; }
uint64_t part${i}(uint64_t seed) {
  uint64_t acc = ${i + 1};
  for (int k = 0; k < 1000; k++) acc = mix${i}(acc + seed + k);
  return acc;
}
`,
    );
  }
  fs.writeFileSync(
    path.join(src, 'main.c'),
    `#include "parts.h"
#include <stdlib.h>
int main(int argc, char **argv) {
  uint64_t seed = argc > 1 ? strtoull(argv[1], 0, 10) : 1;
${Array.from({ length: N }, (_, i) => `  printf("part${i}(%llu) = %016llx\\n", (unsigned long long)seed, (unsigned long long)part${i}(seed));`).join('\n')}
  fprintf(stderr, "prog: done\\n");
  return 7;
}
`,
  );
  fs.writeFileSync(
    path.join(src, 'Makefile'),
    `CC = gcc
CFLAGS = -O2 -Wall -Wextra
OBJS = main.o ${Array.from({ length: N }, (_, i) => `part${i}.o`).join(' ')}

prog: $(OBJS)
\t$(CC) -o $@ $(OBJS)

%.o: %.c parts.h
\t$(CC) $(CFLAGS) -c -o $@ $<

clean:
\trm -f prog $(OBJS)
`,
  );
  if (user) prepare(`chown -R ${user.uid}:${user.gid} "${src}"`);
  return src;
}

// ---- commands (argv for compare()), with the checks that make the native run meaningful ----

/** A per-test working directory under `work`, emptied by setup() (before each of the two runs). */
export function dirFor(work: string, name: string, user?: TestUser): { dir: string; setup: () => void } {
  const dir = path.join(work, `t-${name}`);
  return {
    dir,
    setup: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      if (user) fs.chownSync(dir, user.uid, user.gid);
    },
  };
}

export const corpus = {
  lsLR: (tree: string) => bash(`cd "${tree}" && ls -lR --time-style=full-iso . && ls -laiR . && ls -lRt --time-style=+%s . && ls -1UR . && ls -lL a 2>&1; echo "ls -L: $?"`),
  findPrintf: (tree: string) =>
    bash(`cd "${tree}" && find . -printf '%p|%y|%Y|%m|%M|%s|%n|%T@|%TY-%Tm-%Td %TT|%l|%u|%g|%d|%f\\n' && find . -type f -newermt 2001-01-01 -name '*.txt' && find . -empty | sort && find -L . -xtype l 2>&1 | sort`),
  /** tar c | tar x round trip, then tree comparison; deterministic archive hash. */
  tarRoundTrip: (tree: string, work: string) =>
    bash(`set -e
      cd "${work}"; rm -rf tar-out; mkdir tar-out
      tar -C "${tree}" --format=posix -cf - . | tar -C tar-out -xpf -
      (cd "${tree}" && find . -printf '%p %y %m %s %n %T@ %l\\n' | sort) > before.lst
      (cd tar-out && find . -printf '%p %y %m %s %n %T@ %l\\n' | sort) > after.lst
      cmp before.lst after.lst && echo "round trip: trees identical ($(wc -l < after.lst) entries)"
      diff -r --no-dereference -x fifo "${tree}" tar-out && echo "round trip: contents identical"
      tar -C "${tree}" --sort=name --owner=0 --group=0 --numeric-owner --format=gnu -cf - . | sha256sum
      tar -C "${tree}" --sort=name -cvf - . 2>/dev/null | tar -tvf - --full-time --numeric-owner
      tar -C "${tree}" -czf - a | tar -tzf - | sort
      rm -rf tar-out before.lst after.lst`),
  check: {
    nonEmpty: (r: RunResult) => assert.ok(r.stdout.length > 0, 'native run printed nothing (test bug)'),
    contains: (...needles: string[]) => (r: RunResult) => {
      for (const n of needles) assert.ok(r.stdout.includes(n), `native stdout lacks ${JSON.stringify(n)} (test bug):\n${r.stdout.slice(0, 3000)}\n${r.stderr.slice(0, 2000)}`);
    },
  },
  /** make -j2 in a fresh copy of the project, run the program, hash what was built. */
  makeBuild: (src: string, work: string) =>
    bash(`
      cd "${work}"; rm -rf build; cp -r "${src}" build
      make -C build -s -j2 || exit 90
      ./build/prog 12345; echo "prog exited $?"
      make -C build -s -q; echo "make -q after the build: $?"
      touch -d '2001-01-01' build/part3.o; make -C build -s -q; echo "make -q with an old object: $?"
      make -C build -j2 -s; echo "rebuild: $?"
      sha256sum build/*.o build/prog
      make -C build -s clean; ls build | tr '\\n' ' '; echo`),
};
