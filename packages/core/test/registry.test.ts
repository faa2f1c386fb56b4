import assert from 'node:assert/strict';
import { Registry, MNT_DETACH, MNT_FORCE, type Entry } from '../src/registry.js';
import { Service } from '../src/modules.js';

const released: Entry[] = [];
function service(name: string): Service {
  const s = new Service({ name, description: name }, `/${name}.js`);
  s.definition.cleanup = (e) => released.push(e);
  return s;
}

describe('service registry (VUOS hashtable semantics)', () => {
  it('picks the newest matching mount, not the longest prefix', () => {
    const r = new Registry();
    const a = r.add('path', '/mnt/sub', service('a'));
    const b = r.add('path', '/mnt', service('b'));
    assert.equal(r.lookup('path', '/mnt/sub/file'), b, 'a later mount on /mnt hides /mnt/sub');
    assert.equal(r.lookup('path', '/mnt/subx'), b);
    assert.equal(r.lookup('path', '/mntx'), undefined, 'matches only at component boundaries');
    assert.equal(r.lookup('path', '/mnt/sub/file', b.epoch), a, 'at b\'s epoch only older entries are seen');
  });

  it('stores a root mount as the empty path: it covers every absolute path', () => {
    const r = new Registry();
    const root = r.add('path', '/', service('root'));
    assert.equal(root.key, '');
    assert.equal(r.lookup('path', '/etc/passwd'), root);
  });

  it('prefix entries match inside the last component only; confirm functions may decline', () => {
    const r = new Registry();
    const hda = r.add('path', '/dev/hda', service('vudev'), { prefix: true, confirm: (tail) => /^\d*$/.test(String(tail)) });
    assert.equal(r.lookup('path', '/dev/hda'), hda);
    assert.equal(r.lookup('path', '/dev/hda1'), hda);
    assert.equal(r.lookup('path', '/dev/hdax'), undefined, 'declined by confirm');
    assert.equal(r.lookup('path', '/dev/hda/x'), undefined);
  });

  it('falls back to an older entry when the newest declines', () => {
    const r = new Registry();
    const older = r.add('path', '/net', service('old'));
    r.add('path', '/net', service('new'), { confirm: () => false });
    assert.equal(r.lookup('path', '/net/x'), older);
  });

  it('matches other types exactly and chooses mount types by module name prefix', () => {
    const r = new Registry();
    const s = service('vufuse');
    s.definition.mount = () => {};
    const m = r.add('module', 'vufuse', s);
    const sock = r.add('socket', 2, service('vunet'));
    assert.equal(r.lookup('socket', 2), sock);
    assert.equal(r.lookup('socket', 10), undefined);
    assert.equal(r.lookupFsType('vufuseext2'), m);
    assert.equal(r.lookupFsType('ext2'), undefined);
  });

  it('refuses to delete an entry in use or permanent, unless forced; detach is lazy', () => {
    const r = new Registry();
    const e = r.add('path', '/mnt', service('a'));
    r.acquire(e);
    assert.throws(() => r.del(e), { errno: 16 });
    r.del(e, MNT_DETACH);
    assert.equal(r.lookup('path', '/mnt'), undefined, 'unhashed at once');
    assert.ok(!released.includes(e), 'not released while in use');
    r.release(e);
    assert.ok(released.includes(e), 'released by its last user');
    const p = r.add('path', '/perm', service('b'), { permanent: true });
    assert.throws(() => r.del(p), { errno: 16 });
    r.del(p, MNT_FORCE);
    assert.ok(released.includes(p));
  });
});
