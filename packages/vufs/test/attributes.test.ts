/**
 * Ownership without an image: a vufs cow layer keeps the owners, modes and device nodes the
 * host refuses an unprivileged user, so that virtual root (unrealuidgid) can unpack a root file
 * system and pack it again. Run as an unprivileged user (as root: the created `vuostest`);
 * what tar packs is compared byte for byte with what real root packs natively (CI runs as root).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BASE_PATH, REPO, bash, prepare, removeDir, runUmvu, scratchDir, unprivilegedUser, type TestUser } from '../../../test/helpers/compare.js';
import { sections } from '../../cli/test/run.js';

const PATH = `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}`;

/**
 * A small root file system as a tarball (python's tarfile: no root needed): owners root, 2000
 * and the mail group, device nodes, a setuid program, a sticky directory, a FIFO, a symlink
 * and a hard link, fixed times.
 */
function makeRootfsTar(file: string): void {
  const py = `
import tarfile, io
T = 1000000000
entries = []
def add(name, type=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, data=b'', **kw):
    i = tarfile.TarInfo('./' + name if name != '.' else './'); i.type = type; i.mode = mode; i.uid = uid; i.gid = gid; i.mtime = T
    i.uname = 'root' if uid == 0 else ''; i.gname = {0: 'root', 8: 'mail'}.get(gid, '')
    for k, v in kw.items(): setattr(i, k, v)
    i.size = len(data)
    entries.append((i, data))
add('.', tarfile.DIRTYPE, 0o755)
for d in ['bin', 'dev', 'etc', 'home', 'usr', 'usr/bin', 'var', 'var/mail']:
    add(d, tarfile.DIRTYPE, 0o2775 if d == 'var/mail' else 0o755, gid=8 if d == 'var/mail' else 0)
add('tmp', tarfile.DIRTYPE, 0o1777)
add('home/user', tarfile.DIRTYPE, 0o700, uid=2000, gid=2000)
add('home/user/notes', mode=0o600, uid=2000, gid=2000, data=b'mine\\n')
add('bin/busybox', mode=0o755, data=b'#!/bin/sh\\necho busybox\\n')
add('bin/sh', tarfile.SYMTYPE, 0o777, linkname='busybox')
add('usr/bin/su', mode=0o4755, data=b'#!/bin/sh\\necho su\\n')
add('usr/bin/su-again', tarfile.LNKTYPE, 0o4755, linkname='./usr/bin/su')
add('etc/passwd', data=b'root:x:0:0:root:/root:/bin/sh\\nuser:x:2000:2000::/home/user:/bin/sh\\n')
add('etc/shadow', mode=0o640, gid=42, data=b'root:*:1::::::\\n')
add('dev/null', tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3)
add('dev/console', tarfile.CHRTYPE, 0o600, devmajor=5, devminor=1)
add('dev/sda', tarfile.BLKTYPE, 0o660, gid=6, devmajor=8, devminor=0)
add('dev/initctl', tarfile.FIFOTYPE, 0o600)
add('var/mail/user', mode=0o660, uid=2000, gid=8, data=b'')
# a directory's entries follow it, as in an archive tar makes (its times are set once they are in)
with tarfile.open('${file}', 'w', format=tarfile.GNU_FORMAT) as t:
    for i, data in sorted(entries, key=lambda e: e[0].name.rstrip('/').split('/')):
        t.addfile(i, io.BytesIO(data) if data else None)
`;
  const r = spawnSync('python3', ['-c', py], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

const tarList = (file: string, opts = '') => prepare(`tar ${opts} -tvf ${file} | sed 's/  */ /g'`);

describe('vufs cow keeps ownership without an image (unrealuidgid + vufs)', function () {
  this.timeout(120_000);
  let user: TestUser;
  let work = '';

  before(() => {
    user = unprivilegedUser();
    work = scratchDir('attributes', user);
  });
  after(() => removeDir(work));

  const inView = (script: string) => runUmvu(bash(`vu_insmod unrealuidgid vufs || exit 11\n${script}`), { user, env: { PATH }, cwd: work });

  it('the VUOS alien tar tutorial: a root file, a file of 2000:4000 and a device, as ls -l and tar tvf show them', async () => {
    const dir = path.join(work, 'alientar');
    const r = await inView(`mkdir ${dir}; vusu -m -c '
set -e; vumount -t vufs -o cow ${dir} ${dir}; cd ${dir}
mkdir dir; echo ciao > rootfile; echo file2000 > file2000; chown 2000:4000 file2000; mknod dir/device c 42 44
echo "== ls dir"; ls -l dir | tail -n +2 | awk "{print \\$1, \\$2, \\$3, \\$4, \\$5, \\$6, \\$NF}"
echo "== ls"; ls -ln | tail -n +2 | awk "{print \\$1, \\$2, \\$3, \\$4, \\$5, \\$NF}"
echo "== tar"; tar --sort=name -cf ../alien.tar .; tar -tvf ../alien.tar | sed "s/  */ /g" | cut -d" " -f1-3,6-
echo "== whoami"; whoami'`);
    const s = sections(r.stdout);
    assert.deepEqual(
      s,
      {
        'ls dir': 'crw-r--r-- 1 root root 42, 44 device\n',
        ls: 'drwxr-xr-x 2 0 0 4096 dir\n-rw-r--r-- 1 2000 4000 9 file2000\n-rw-r--r-- 1 0 0 5 rootfile\n',
        tar:
          `drwxr-xr-x ${user.name}/${user.name} 0 ./\ndrwxr-xr-x root/root 0 ./dir/\ncrw-r--r-- root/root 42,44 ./dir/device\n` +
          '-rw-r--r-- 2000/4000 9 ./file2000\n-rw-r--r-- root/root 5 ./rootfile\n',
        whoami: 'root\n',
      },
      JSON.stringify(r),
    );
    // the host holds plain files of the user; the device is an empty file
    const device = fs.statSync(path.join(dir, 'dir/device'));
    assert.ok(device.isFile() && device.size === 0 && device.uid === user.uid);
  });

  it('tar xpf of a root file system as virtual root, then tar cpf: the same archive as real root packs natively, and again in a new view', async function () {
    const rootfs = path.join(work, 'rootfs.tar');
    makeRootfsTar(rootfs);
    const upper = path.join(work, 'layer');
    const target = path.join(work, 'target');
    const pack = (to: string) => `tar -C ${target} --sort=name -cpf ${to} .`;
    let r = await inView(`mkdir ${upper} ${target}; vusu -m -c 'set -e; vumount -t vufs -o cow ${upper} ${target}; tar -C ${target} -xpf ${rootfs}; ${pack(`${work}/view.tar`)}; ls -ln ${target}/dev'`);
    assert.equal(r.status, 0, JSON.stringify(r));
    assert.match(r.stdout, /^crw-rw-rw- 1 0 0 1, 3 .* null$/m);
    // what the archive holds is what went in (the order aside: tar sorts by name)
    const listing = (f: string) => tarList(f, '--numeric-owner').split('\n').sort().join('\n');
    assert.equal(listing(`${work}/view.tar`), listing(rootfs));
    // leaving and entering again: the layer still holds it all
    r = await inView(`vusu -m -c 'set -e; vumount -t vufs -o cow ${upper} ${target}; ${pack(`${work}/again.tar`)}; stat -c "%A %U:%G %t,%T" ${target}/dev/sda ${target}/usr/bin/su'`);
    assert.equal(r.stdout, 'brw-rw---- root:disk 8,0\n-rwsr-xr-x root:root 0,0\n', JSON.stringify(r));
    assert.ok(fs.readFileSync(`${work}/again.tar`).equals(fs.readFileSync(`${work}/view.tar`)), 'the second view packs the same bytes');
    // and natively, as real root, the same commands make the same archive
    if (process.getuid?.() !== 0) this.skip();
    const native = path.join(work, 'native');
    prepare(`mkdir ${native}; tar -C ${native} -xpf ${rootfs}; tar -C ${native} --sort=name -cpf ${work}/native.tar .`);
    assert.ok(fs.readFileSync(`${work}/view.tar`).equals(fs.readFileSync(`${work}/native.tar`)), `${tarList(`${work}/native.tar`)}\n---\n${tarList(`${work}/view.tar`)}`);
  });

  it('a kept device node opens the host\'s device of its number (c 1 3: /dev/null), one without a driver fails with ENXIO, as natively', async function () {
    const dir = path.join(work, 'nodes');
    const script = (d: string) => `cd ${d}; mknod null c 1 3; mknod weird c 42 44; echo data > null; wc -c < null; cat weird 2>&1 | sed "s/^cat: //"; stat -c "%F %t,%T" null`;
    const r = await inView(`mkdir ${dir}; vusu -m -c 'set -e; vumount -t vufs -o cow ${dir} ${dir}; ${script(dir)}'`);
    assert.equal(r.stdout, '0\nweird: No such device or address\ncharacter special file 1,3\n', JSON.stringify(r));
    assert.equal(fs.statSync(path.join(dir, 'null')).size, 0);
    if (process.getuid?.() !== 0) this.skip();
    const native = path.join(work, 'nodes-native');
    assert.equal(prepare(`mkdir ${native}; ${script(native)}`), r.stdout);
  });

  it('cow,nochcopy: chmod and chown of a lower file are kept without a copy; the lower file is left as it was', async () => {
    const low = path.join(work, 'nochcopy-low');
    const up = path.join(work, 'nochcopy-up');
    prepare(`mkdir ${low} ${up}; echo data > ${low}/f; chmod 644 ${low}/f`, { user });
    const r = await inView(`vusu -m -c 'set -e; vumount -t vufs -o cow,nochcopy ${up} ${low}; chmod 4711 ${low}/f; chown 0:5 ${low}/f; stat -c "%a %u:%g %s" ${low}/f; cat ${low}/f'`);
    assert.equal(r.stdout, '711 0:5 5\ndata\n', JSON.stringify(r)); // (the chown took set-user-ID away)
    const st = fs.statSync(`${low}/f`);
    assert.equal(`${(st.mode & 0o7777).toString(8)} ${st.uid}`, `644 ${user.uid}`);
    assert.deepEqual(fs.readdirSync(up), ['.-']);
  });

  it('the kernel\'s rules hold in a cow layer for a user who is not root: chown to others and mknod of devices fail, fchmod acts on the open file (unlinked, O_PATH)', async () => {
    const script = (d: string) => `cd ${d}; echo x > f; echo y > g
python3 -c '
import os, errno
def attempt(what, f):
    try: f(); print(what, "ok")
    except OSError as e: print(what, errno.errorcode[e.errno])
attempt("chown", lambda: os.chown("f", 0, 0))
attempt("chgrp own", lambda: os.chown("f", -1, os.getgid()))
attempt("mknod", lambda: os.mknod("dev", 0o20644, os.makedev(1, 3)))
fd = os.open("g", os.O_RDONLY); os.unlink("g")
attempt("fchmod unlinked", lambda: os.fchmod(fd, 0o600)); print(oct(os.fstat(fd).st_mode))
p = os.open("f", os.O_PATH)
attempt("fchmod O_PATH", lambda: os.fchmod(p, 0o600))
'; stat -c "%n %a" f`;
    const dir = path.join(work, 'rules');
    const r = await inView(`mkdir ${dir}; vumount -t vufs -o cow ${dir} ${dir}; ${script(dir)}`);
    const native = path.join(work, 'rules-native');
    prepare(`mkdir ${native}`, { user });
    assert.equal(r.stdout, prepare(script(native), { user }), JSON.stringify(r));
    assert.match(r.stdout, /^chown EPERM$/m);
  });

  it('as virtual root: a set-group-ID directory gives its group to what is made in it; a change through an fd of a lower file is kept, the file left alone; a FIFO copied up stays a FIFO', async () => {
    const low = path.join(work, 'sgid-low');
    const up = path.join(work, 'sgid-up');
    prepare(`mkdir ${low} ${up}; echo data > ${low}/lower; mkfifo ${low}/fifo`, { user });
    const r = await inView(`vusu -m -c 'set -e; vumount -t vufs -o cow ${up} ${low}; cd ${low}
mkdir d; chgrp 50 d; chmod 2775 d; touch d/f; mkdir d/sub; stat -c "%n %g %A" d/f d/sub
python3 -c "import os; fd = os.open(\\"lower\\", os.O_RDONLY); os.fchmod(fd, 0o600); os.fchown(fd, 7, 8)"; stat -c "%n %a %u:%g" lower
chmod 600 fifo; stat -c "%n %F %a" fifo'`);
    assert.equal(r.stdout, 'd/f 50 -rw-r--r--\nd/sub 50 drwxr-sr-x\nlower 600 7:8\nfifo fifo 600\n', JSON.stringify(r));
    const st = fs.statSync(path.join(low, 'lower'));
    assert.equal(`${(st.mode & 0o777).toString(8)} ${st.uid}`, `644 ${user.uid}`);
    assert.ok(fs.statSync(path.join(up, 'fifo')).isFIFO());
  });

  it('virtual root removes a tree of root\'s from a cow layer as real root would; the user is refused as natively', async function () {
    if (process.getuid?.() !== 0) this.skip(); // the lower tree must be root's
    const low = path.join(work, 'root-tree');
    const up = path.join(work, 'root-tree-up');
    prepare(`mkdir -p ${low}/d/e; echo g > ${low}/d/e/g; chmod 755 ${low}`);
    prepare(`mkdir ${up}`, { user });
    const r = await inView(`vumount -t vufs -o cow ${up} ${low}; rm -rf ${low}/d 2>&1 | sed "s|${low}/||"; vusu -m -c 'rm -rf ${low}/d && ls -A ${low} && echo removed'`);
    assert.equal(r.stdout, "rm: cannot remove 'd/e/g': Permission denied\nremoved\n", JSON.stringify(r));
    assert.ok(fs.existsSync(path.join(low, 'd/e/g')));
  });

  it('fstat of a directory opened in a cow layer is that directory\'s, renamed or not (what is kept included)', async () => {
    const low = path.join(work, 'dirfd-low');
    const up = path.join(work, 'dirfd-up');
    prepare(`mkdir ${low} ${up}`, { user });
    const py = `import os
os.mkdir("a"); os.chown("a", 5, 5); os.mkdir("c"); os.chown("c", 7, 7)
fd = os.open("a", os.O_RDONLY)
for step in ("b", None):
    os.rename("a", "b") if step else os.rename("c", "a")
    st = os.fstat(fd); print(st.st_uid, oct(st.st_mode))`;
    fs.writeFileSync(path.join(work, 'dirfd.py'), py);
    const r = await inView(`vusu -m -c 'vumount -t vufs -o cow ${up} ${low}; cd ${low}; python3 ${work}/dirfd.py'`);
    assert.equal(r.stdout, '5 0o40755\n5 0o40755\n', JSON.stringify(r));
  });

  it('a log line cut short (a crash) loses only itself: the next view\'s changes are kept', async () => {
    const dir = path.join(work, 'crash');
    let r = await inView(`mkdir ${dir}; vusu -m -c 'vumount -t vufs -o cow ${dir} ${dir}; touch ${dir}/a'`);
    fs.appendFileSync(path.join(dir, '.-/\x7fattributes'), '["/x",{"ui');
    r = await inView(`vusu -m -c 'vumount -t vufs -o cow ${dir} ${dir}; chown 9 ${dir}/a'`);
    r = await inView(`vusu -m -c 'vumount -t vufs -o cow ${dir} ${dir}; stat -c %u:%g ${dir}/a'`);
    assert.equal(r.stdout, '9:0\n', JSON.stringify(r));
  });

  it('renames, links and removals take what is kept along; hard links are one file; a chown back to the host owner keeps nothing', async () => {
    const dir = path.join(work, 'moves');
    const r = await inView(`mkdir ${dir}; vusu -m -c '
set -e; vumount -t vufs -o cow ${dir} ${dir}; cd ${dir}
mkdir -p a/b; echo x > a/b/f; chown -R 7:8 a; mknod a/node b 3 4
mv a c; ln c/b/f c/hard; rm c/node
stat -c "%n %u:%g %F" c c/b c/b/f c/hard; ls c
chown ${user.uid}:${user.gid} c/b/f; stat -c "%n %u:%g" c/b/f c/hard'`);
    assert.equal(
      r.stdout,
      `c 7:8 directory\nc/b 7:8 directory\nc/b/f 7:8 regular file\nc/hard 7:8 regular file\nb\nhard\n` + `c/b/f ${user.uid}:${user.gid}\nc/hard ${user.uid}:${user.gid}\n`,
      JSON.stringify(r),
    );
    // what the layer keeps in the end: nothing of the old names, nor of the removed node
    const kept = new Map<string, unknown>();
    for (const line of fs.readFileSync(path.join(dir, '.-/\x7fattributes'), 'utf8').split('\n').filter(Boolean)) {
      const [p, a] = JSON.parse(line) as [string, unknown];
      if (a) kept.set(p, a);
      else kept.delete(p);
    }
    assert.deepEqual([...kept.keys()].sort(), ['/c', '/c/b', '/c/b/f', '/c/hard']);
  });
});
