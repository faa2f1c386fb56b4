/**
 * The path engine against the kernel: for a tree full of symlink chains, loops, dangling links
 * and `..`, resolving every path with the kernel's facts (realOracle) must give what stat(2),
 * lstat(2) and realpath(3) give: the same canonical path, or the same errno.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolvePath, realOracle, type PathOracle } from '../src/path/resolve.js';

describe('path resolution (against the kernel)', () => {
  let dir = '';
  before(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'umvu-resolve-')));
    fs.mkdirSync(path.join(dir, 'a/b/c'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'a/b/file'), 'x');
    const links: Record<string, string> = {
      'abs': path.join(dir, 'a'),
      'rel': 'a/b',
      'up': '..',
      'a/b/c/top': '../../..',
      'filelink': 'a/b/file',
      'dangling': 'nowhere/at/all',
      'loop1': 'loop2',
      'loop2': 'loop1',
      'self': 'self',
      'chain0': 'a/b/file',
      'empty-dir-link': 'a/b/c',
      'root': '/',
    };
    for (let i = 1; i <= 45; i++) links[`chain${i}`] = `chain${i - 1}`;
    for (const [name, target] of Object.entries(links)) fs.symlinkSync(target, path.join(dir, name));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const paths = [
    '.', '..', 'a', 'a/', 'a/b/file', 'a/b/file/', 'a/b/file/x', 'a/b/../b/./file', 'a/./b//c/', 'missing',
    'missing/x', 'a/missing', 'a/missing/', 'a/missing/..', 'abs', 'abs/b/file', 'abs/../a', 'rel/file', 'rel/..',
    'up', 'up/' + 'x', 'a/b/c/top', 'a/b/c/top/a/b/file', 'filelink', 'filelink/', 'filelink/x', 'dangling',
    'dangling/', 'dangling/x', 'loop1', 'loop1/x', 'self', 'chain10', 'chain39', 'chain40', 'chain41', 'chain45',
    'chain45/x', 'empty-dir-link/', 'empty-dir-link/..', 'root', 'root/etc/..', '/', '/..', '//', '/etc/../etc',
    'x'.repeat(255), 'x'.repeat(256), 'a/' + 'y'.repeat(256) + '/z', 'a/'.repeat(2100),
  ];

  function kernel(p: string, follow: boolean): { path?: string; errno?: string; exists: boolean } {
    try {
      (follow ? fs.statSync : fs.lstatSync)(p);
      const canonical = follow ? fs.realpathSync.native(p) : path.join(fs.realpathSync.native(path.dirname(p)), path.basename(p));
      return { path: canonical, exists: true };
    } catch (e) {
      return { errno: (e as NodeJS.ErrnoException).code, exists: false };
    }
  }

  async function engine(p: string, follow: boolean): Promise<{ path?: string; errno?: string; exists: boolean }> {
    try {
      const r = await resolvePath(p, { base: dir, follow }, realOracle);
      return r.exists ? { path: r.path, exists: true } : { errno: 'ENOENT', exists: false };
    } catch (e) {
      return { errno: (e as { code?: string; message: string }).message, exists: false };
    }
  }

  for (const follow of [true, false]) {
    it(`gives stat${follow ? '' : ' (lstat)'}'s result for ${paths.length} paths`, async () => {
      const cwd = process.cwd();
      process.chdir(dir);
      try {
        const wrong: string[] = [];
        for (const p of paths) {
          const k = kernel(p, follow);
          const e = await engine(p, follow);
          // lstat of a path ending in '/' or '.' has no meaningful "basename" path: compare existence
          const samePath = !k.exists || !e.exists || k.path === e.path || /\/$|(^|\/)\.{1,2}$/.test(p) || p === '/' || p === '//';
          if (k.exists !== e.exists || k.errno !== e.errno || !samePath)
            wrong.push(`${p.length > 40 ? p.slice(0, 40) + '…' : p}: kernel ${JSON.stringify(k)} engine ${JSON.stringify(e)}`);
        }
        assert.deepEqual(wrong, []);
      } finally {
        process.chdir(cwd);
      }
    });
  }

  it('keeps `..` and absolute symlinks inside a virtual root (chroot)', async () => {
    const r = await resolvePath('/../../a/b/c/top/abs-from-root', { base: dir, follow: true, root: dir }, realOracle);
    assert.equal(r.path, path.join(dir, 'abs-from-root'));
    assert.equal(r.exists, false);
    const viaRoot = await resolvePath('root/a/b/file', { base: dir, follow: true, root: dir }, realOracle);
    assert.equal(viaRoot.path, path.join(dir, 'a/b/file'), 'a link to / stays in the chroot');
  });

  it('asks the oracle, so symlinks cross between real and virtual trees', async () => {
    // a virtual tree mounted on /virt: /virt/back -> /etc (real); /real-link -> /virt/dir
    const virtual: Record<string, { mode: number; target?: string }> = {
      '/virt': { mode: 0o040755 },
      '/virt/dir': { mode: 0o040755 },
      '/virt/dir/f': { mode: 0o100644 },
      '/virt/back': { mode: 0o120777, target: '/etc' },
      '/real-link': { mode: 0o120777, target: '/virt/dir' },
    };
    const oracle: PathOracle = {
      lstat: (abs) => virtual[abs] ?? (abs === '/' || abs === '/etc' ? { mode: 0o040755 } : abs === '/etc/passwd' ? { mode: 0o100644 } : null),
      readlink: (abs) => virtual[abs]!.target!,
    };
    assert.equal((await resolvePath('/virt/back/passwd', { base: '/', follow: true }, oracle)).path, '/etc/passwd');
    assert.equal((await resolvePath('/real-link/f', { base: '/', follow: true }, oracle)).path, '/virt/dir/f');
    assert.equal((await resolvePath('../dir/f', { base: '/virt/dir', follow: true }, oracle)).path, '/virt/dir/f');
    assert.equal((await resolvePath('../../etc/passwd', { base: '/virt/dir', follow: true }, oracle)).path, '/etc/passwd');
  });

  it('refuses an empty path unless AT_EMPTY_PATH', async () => {
    await assert.rejects(resolvePath('', { base: dir, follow: true }, realOracle), { message: 'ENOENT' });
    assert.equal((await resolvePath('', { base: dir, follow: true, emptyPathAllowed: true }, realOracle)).path, dir);
  });
});
