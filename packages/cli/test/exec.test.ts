/**
 * Programs stored in a mount (vufs bind of a host directory): ELF binaries, static and dynamic,
 * scripts whose interpreter is real or in the mount, files without `#!`, run by absolute and
 * relative paths, by PATH lookup and through posix_spawn, must print what they print when run
 * from the host directory natively. So must a real program run relatively from a virtual cwd.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { run, tmpdir, umvuBash } from './run.js';

const ARGV_PRINTER = '#include <stdio.h>\nint main(int c, char **v) { for (int i = 0; i < c; i++) printf("[%s]", v[i]); printf("\\n"); return 0; }\n';

describe('exec of files in a mount', () => {
  let work = '';
  before(function () {
    work = tmpdir();
    for (const side of ['native', 'view']) {
      const d = path.join(work, side);
      const inside = side === 'native' ? d : path.join(work, 'mnt');
      fs.mkdirSync(path.join(d, 'sub'), { recursive: true });
      fs.writeFileSync(path.join(d, 'argv.c'), ARGV_PRINTER);
      for (const [out, flags] of [['dyn', []], ['static', ['-static']]] as const) {
        const r = run('gcc', [...flags, '-o', path.join(d, out), path.join(d, 'argv.c')]);
        assert.equal(r.status, 0, r.stderr);
      }
      const scripts: Record<string, string> = {
        's.py': '#!/usr/bin/python3\nimport os, sys\nprint("py", sys.argv, os.getcwd())\n',
        's.sh': '#!/bin/sh -e\necho sh "$0" "$@"\n',
        // the interpreter is an ELF in the mount, with its one optional argument
        'via-elf': `#!${inside}/dyn  one arg \n`,
        // the interpreter is itself a script in the mount (nested interpreters)
        'via-script': `#!${inside}/s.sh\n`,
        plain: 'echo plain "$0" "$@"\n',
        'bad-interp': '#!/nonexistent/interpreter\n',
      };
      for (const [name, text] of Object.entries(scripts)) fs.writeFileSync(path.join(d, name), text, { mode: 0o755 });
    }
  });

  const script = (d: string) =>
    `D=${JSON.stringify(d)}; "$D/dyn" a 'b c'; "$D/static" a b; "$D/s.py" x y; "$D/s.sh" q; "$D/plain" z; ` +
    `"$D/via-elf" x; "$D/via-script" y; (exec -a custom "$D/dyn" argv0); env PATH="$D" dyn via-path; ` +
    `cd "$D"; ./dyn rel; ./s.sh rel; ./plain rel; sub/../static up-and-down; ` +
    `python3 -c 'import subprocess; subprocess.run(["./dyn", "spawned"]); subprocess.run(["./s.py", "spawned"])'; ` +
    `./missing; ./argv.c; ./sub; ./bad-interp; ` +
    // from a virtual cwd elsewhere, a real program named relatively
    `cd /usr/bin && ./printf '%s\\n' real-from-cwd`;

  it('runs a program in a mount even when a signal arrives during the exec', () => {
    const probe = path.join(work, 'exec-under-signal');
    const c = run('gcc', ['-O2', '-o', probe, path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures/exec-under-signal.c')]);
    assert.equal(c.status, 0, c.stderr);
    const r = umvuBash(
      `set -e; vu_insmod vufs; vumount -t vufs ${work}/view ${work}/mnt; set +e; ok=0; ` +
        `for i in $(seq 1 50); do for us in 30 80 150 300; do ${probe} ${work}/mnt/dyn $us >/dev/null && ok=$((ok+1)); done; done; echo $ok`,
    );
    assert.equal(r.stdout, '200\n', r.stderr);
  });

  it('runs ELF binaries and scripts with the argv and errors they have natively', () => {
    const native = run('bash', ['-c', script(path.join(work, 'native'))]);
    const view = umvuBash(`set -e; vu_insmod vufs; vumount -t vufs ${work}/view ${work}/mnt; set +e; ${script(`${work}/mnt`)}`);
    const expected = (s: string) => s.replaceAll(path.join(work, 'native'), `${work}/mnt`);
    assert.match(native.stdout, /\[.*dyn\]\[a\]\[b c\]/); // the native run did run the programs
    assert.equal(view.stdout, expected(native.stdout));
    assert.equal(view.stderr, expected(native.stderr));
  });
});
