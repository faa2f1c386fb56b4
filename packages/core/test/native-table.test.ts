import assert from 'node:assert/strict';
import { Registry, type MountInfo } from '../src/registry.js';
import { Service } from '../src/modules.js';
import { nativePathTable } from '../src/path/native-table.js';
import { syscallNumber } from '../src/syscalls/x86_64.js';

const svc = new Service({ name: 'm', description: 'm' }, '/m.js');
const info = (target: string): MountInfo => ({ source: 's', target, fstype: 'm', options: '', flags: 0 });
const bind = (host: string) => ({ redirect: (mpath: string) => host + mpath, hostPrefix: host });

describe('native path table (what the listener may decide alone)', () => {
  it('gives a host directory only to pure prefix redirects', () => {
    const r = new Registry();
    r.add('path', '/a', svc, { files: bind('/src/a'), mount: info('/a') });
    r.add('path', '/b', svc, { files: bind('/src/b'), confirm: (t) => t !== '/x' }); // except=
    r.add('path', '/c', svc, { files: { redirect: (m) => '/src/c' + m } }); // no hostPrefix
    r.add('path', '/d', svc, { files: bind('/src/d') });
    r.add('path', '/d/e', svc, { files: bind('/src/e') }); // nested: /d is not pure, /d/e is
    r.add('path', '/f', svc, { files: bind('/src/f') });
    r.add('path', '/f', svc, { files: bind('/src/g') }); // two mounts on one point
    r.add('path', '/h', svc, { files: bind('relative') });
    const t = nativePathTable(r.all('path'))!;
    assert.deepEqual(t.mounts, [
      { path: '/a', host: '/src/a' },
      { path: '/b' },
      { path: '/c' },
      { path: '/d' },
      { path: '/d/e', host: '/src/e' },
      { path: '/f' },
      { path: '/f' },
      { path: '/h' },
      { path: '/proc' }, // a mount lists itself in /proc/mounts: JavaScript answers those opens
    ]);
  });

  it('leaves everything to JavaScript with a mount on /', () => {
    const r = new Registry();
    r.add('path', '/', svc, { files: bind('/src') });
    assert.equal(nativePathTable(r.all('path')), undefined);
  });

  it('marks prefix entries (/dev/hda, which also owns /dev/hda1...)', () => {
    const p = new Registry();
    p.add('path', '/dev/hda', svc, { prefix: true });
    assert.deepEqual(nativePathTable(p.all('path'))!.mounts, [{ path: '/dev/hda', namePrefix: true }]);
  });

  it('describes the path arguments of the path calls, and the native operations', () => {
    const t = nativePathTable([])!;
    const call = (name: string) => t.calls.find((c) => c.nr === syscallNumber(name));
    assert.deepEqual(call('newfstatat'), {
      nr: 262,
      paths: [{ arg: 1, dirfd: 0, flags: 3, follow: false, nofollow: 0x100, followBit: undefined, emptyFlags: 3 }],
      op: { kind: 'stat', out: 2 },
    });
    assert.deepEqual(call('linkat')?.paths.map((p) => [p.arg, p.dirfd, p.flags, p.followBit]), [
      [1, 0, 4, 0x400],
      [3, 2, -1, undefined],
    ]);
    assert.equal(call('mkdir')?.op, undefined, 'creating calls stay in JavaScript');
    assert.equal(call('getcwd'), undefined, 'no path argument');
    assert.deepEqual(call('chdir')?.paths, [{ arg: 0, dirfd: -1, flags: -1, follow: true, nofollow: undefined, followBit: undefined, emptyFlags: -1 }]);
  });
});
