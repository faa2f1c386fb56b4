/** Trees the tests run programs in. */
import fs from 'node:fs';
import path from 'node:path';
import { run } from './run.js';

/** Copies programs and the libraries ldd names into root. */
export function makeChrootTree(root: string, programs: string[]): void {
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'etc'));
  for (const name of programs) {
    const prog = run('sh', ['-c', `command -v ${name}`]).stdout.trim();
    fs.copyFileSync(prog, path.join(root, 'bin', name));
    fs.chmodSync(path.join(root, 'bin', name), 0o755);
    for (const lib of run('ldd', [prog]).stdout.match(/\/\S+/g) ?? []) {
      fs.mkdirSync(path.join(root, path.dirname(lib)), { recursive: true });
      fs.copyFileSync(fs.realpathSync(lib), path.join(root, lib));
    }
  }
  fs.writeFileSync(path.join(root, 'etc/motd'), 'hello from the chroot\n');
  fs.writeFileSync(path.join(root, 'bin/script'), '#!/bin/bash\necho "script $0 $*"\n', { mode: 0o755 });
}
