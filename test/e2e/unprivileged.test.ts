/**
 * A representative subset of the transparency corpus run as an unprivileged user (as root the
 * suite creates the user `vuostest` and runs through setpriv; as a normal user, as itself):
 * seccomp user notification without CAP_SYS_ADMIN (no_new_privs), files owned by that user.
 * Native and umvu runs are both made as that user and compared.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BASE_PATH, FIXTURES, REPO, bash, compare, prepare, removeDir, runUmvu, scratchDir, unprivilegedUser, type TestUser } from '../helpers/compare.js';
import { corpus, dirFor, makeCProject, makeTree } from '../helpers/corpus.js';
import { makeChrootTree } from '../../packages/cli/test/trees.js';

const { contains, nonEmpty } = corpus.check;

describe('transparency as an unprivileged user', function () {
  this.timeout(120_000);
  let user: TestUser;
  let work = '';
  let tree = '';
  let cproject = '';



  before(function () {
    this.timeout(60_000);
    // throws, explaining which path is not accessible, if the user cannot run this checkout
    user = unprivilegedUser();
    work = scratchDir('unprivileged', user);
    tree = makeTree(work, user);
    cproject = makeCProject(work, user);
  });
  after(() => removeDir(work));

  it('runs as that user, really under umvu', async () => {
    const r = await runUmvu(bash('id -u; grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status'), { user });
    assert.equal(r.stdout, `${user.uid}\nNoNewPrivs:\t1\nSeccomp:\t2\n`, JSON.stringify(r));
    if (user.uid === 0) assert.fail('the unprivileged user is root');
  });
  it('ls -lR of a tree the user owns', async () => {
    await compare(corpus.lsLR(tree), { user, check: contains('hello.txt', user.name) });
  });
  it('tar c | tar x round trip', async () => {
    const t = dirFor(work, 'tar', user);
    await compare(corpus.tarRoundTrip(tree, t.dir), { user, setup: t.setup, check: contains('round trip: trees identical', 'round trip: contents identical') });
  });
  it('permission errors are the same (root-only files, other users\' dirs)', async () => {
    await compare(bash('exec 2>&1; cat /etc/shadow; echo "cat: $?"; ls /root; echo "ls: $?"; touch /etc/x; echo "touch: $?"; kill -0 1; echo "kill: $?"; id -u'), {
      user,
      check: contains('cat: 1', 'touch: 1', 'Permission denied'),
    });
  });
  it('a bash pipeline script', async () => {
    const t = dirFor(work, 'pipelines', user);
    await compare(['/bin/bash', '--norc', '--noprofile', path.join(FIXTURES, 'bash', 'pipelines.bash')], { user, cwd: t.dir, setup: t.setup, check: nonEmpty });
  });
  it('bash subshells, here-docs, process substitution', async () => {
    const t = dirFor(work, 'subshells', user);
    await compare(['/bin/bash', '--norc', '--noprofile', path.join(FIXTURES, 'bash', 'subshells.bash')], { user, cwd: t.dir, setup: t.setup, check: contains('END') });
  });
  it('python3 subprocess', async () => {
    await compare(
      [
        'python3',
        '-c',
        `import subprocess, os
r = subprocess.run(["sh", "-c", "id -u; echo err >&2; exit 5"], capture_output=True, text=True)
print(r.returncode, repr(r.stdout), repr(r.stderr))
print(subprocess.check_output(["sh", "-c", "seq 1 1000 | wc -l"]).decode().strip(), os.getuid() == os.geteuid())`,
      ],
      { user, check: contains(`5 '${user.uid}\\n' 'err\\n'`, '1000 True') },
    );
  });
  it('make -j2 build of the C project', async () => {
    const t = dirFor(work, 'make', user);
    await compare(corpus.makeBuild(cproject, t.dir), { user, setup: t.setup, check: contains('prog exited 7', 'part7(12345)') });
  });
  it('a vufs bind of its own directory: build there with gcc and run the program from the mount', async () => {
    const t = dirFor(work, 'vufs', user);
    const src = path.join(t.dir, 'src');
    const mnt = path.join(t.dir, 'mnt');
    const script = `set -e; mkdir ${src}; vu_insmod vufs; vumount -t vufs ${src} ${mnt}; cd ${mnt}
printf '#include <stdio.h>\\nint main(int c, char **v) { printf("hello %%s\\\\n", v[1]); return 0; }\\n' > hello.c
gcc -o hello hello.c; ./hello mount; ${mnt}/hello absolute; printf '#!/bin/sh\\necho "script $0"\\n' > s; chmod +x s; ./s
cd /; vuumount ${mnt}; ls ${src}`;
    t.setup();
    const r = await runUmvu(bash(script), { user, env: { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` } });
    assert.equal(r.stdout, 'hello mount\nhello absolute\nscript ./s\nhello\nhello.c\ns\n', JSON.stringify(r));
  });
  it('vufs mincow: what the user may change changes for real, the rest moves to the overlay', async () => {
    const t = dirFor(work, 'mincow', user);
    t.setup();
    const lower = path.join(t.dir, 'lower');
    const upper = path.join(t.dir, 'upper');
    fs.mkdirSync(path.join(lower, 'mine'), { recursive: true });
    fs.mkdirSync(upper);
    fs.writeFileSync(path.join(lower, 'locked'), 'locked\n', { mode: 0o444 });
    fs.writeFileSync(path.join(lower, 'gone'), 'gone\n', { mode: 0o444 });
    fs.writeFileSync(path.join(lower, 'mine/f'), 'mine\n');
    for (const p of [upper, path.join(lower, 'mine'), path.join(lower, 'mine/f')]) fs.chownSync(p, user.uid, user.gid);
    fs.chmodSync(lower, 0o555); // the user may not create or delete there (nor may it, if it owns it)
    const script = `set -e; vu_insmod vufs; vumount -t vufs -o mincow ${upper} ${lower}; cd ${lower}
chmod u+w locked; echo more >> locked; echo more >> mine/f; rm -f gone; echo new > new; ls; cat locked mine/f new`;
    const r = await runUmvu(bash(script), { user, env: { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` } });
    fs.chmodSync(lower, 0o755);
    assert.equal(r.stdout, 'locked\nmine\nnew\nlocked\nmore\nmine\nmore\nnew\n', JSON.stringify(r));
    assert.equal(fs.readFileSync(path.join(lower, 'locked'), 'utf8'), 'locked\n');
    assert.equal(fs.readFileSync(path.join(lower, 'mine/f'), 'utf8'), 'mine\nmore\n');
    assert.ok(fs.existsSync(path.join(lower, 'gone')));
    assert.deepEqual(fs.readdirSync(upper).sort(), ['.-', 'locked', 'new']);
  });
  it('vufuse daemons as the user: rw+ ext4 (fuse2fs) gives the tree a host directory gets; squashfs (squashfuse) reads back its tree', async () => {
    const t = dirFor(work, 'vufuse', user);
    t.setup();
    const fixtures = path.join(REPO, 'packages/vufuse/test/fixtures');
    const list = (d: string) => `python3 ${fixtures}/treelist.py ${d} s`;
    // images the user made and owns (the ext4 root too, as a kernel mount would need)
    prepare(`cd ${t.dir}; mkfs.ext4 -q -F -E root_owner=$(id -u):$(id -g) e.img 64M; mkdir src host; cp -a /usr/share/doc/e2fsprogs src/; seq 1 1000 > src/n
mksquashfs src s.img -quiet -no-progress > /dev/null; bash ${fixtures}/workload.sh ${t.dir}/host; ${list(`${t.dir}/host`)} > native.txt
cd src; find . -type f -print0 | xargs -0 sha256sum | sort -k2 > ../src.sums`, { user });
    const script = `set -e; cd ${t.dir}; mkdir m q; vu_insmod vufuse; vumount -t vufuseext4 -o rw+ e.img m; vumount -t vufusesquashfs s.img q
bash ${fixtures}/workload.sh ${t.dir}/m; ${list(`${t.dir}/m`)} > view.txt; (cd q; find . -type f -print0 | xargs -0 sha256sum | sort -k2) > q.sums
vuumount m; vuumount q; cat view.txt; echo ==; cat q.sums`;
    const r = await runUmvu(bash(script), { user, env: { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` } });
    const native = fs.readFileSync(path.join(t.dir, 'native.txt'), 'utf8');
    assert.match(native, new RegExp(`^renamed file 640 ${user.uid}:${user.gid} 2 11 1614834367 `, 'm'));
    const view = r.stdout.replace(/^\S+: Writing to the journal is not supported\.\n/m, '');
    assert.equal(view, `${native}==\n${fs.readFileSync(path.join(t.dir, 'src.sums'), 'utf8')}`, JSON.stringify(r));
    const fsck = spawnSync('e2fsck', ['-fn', path.join(t.dir, 'e.img')], { encoding: 'utf8' });
    assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
  });
  it('the vudev seed example as the user: gdisk on an empty 1 GiB file as /dev/hda, mkfs.ext4 and fuse2fs on /dev/hda1', async () => {
    const t = dirFor(work, 'vudev', user);
    t.setup();
    const mnt = path.join(t.dir, 'mnt');
    // verbatim: mkfs.ext4 makes the root directory root's, and the user still writes there
    // (vufuseext2 gives fuse2fs `fakeroot`, as fuse-ext2 checked no permissions)
    const script = `cd ${t.dir}; vu_insmod vudev vufuse || exit 11; truncate -s 1G disk; vumount -t vudevpartx disk /dev/hda || exit 12
printf 'n\\n\\n\\n+200M\\n\\nn\\n\\n\\n\\n\\nw\\nY\\n' | gdisk /dev/hda > gdisk.out; echo "gdisk: $?"; ls -l /dev/hda1 /dev/hda2; [ -b /dev/hda1 ] || exit 13
mkfs.ext4 -q /dev/hda1; echo "mkfs: $?"; mkdir ${mnt}; vumount -t vufuseext2 -o rw+ /dev/hda1 ${mnt} || exit 14
echo ciao > ${mnt}/hello; ls -l ${mnt}; vuumount ${mnt}; echo "umount: $?"; vuumount /dev/hda; echo "umount: $?"`;
    const r = await runUmvu(bash(script), { user, env: { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` } });
    const out = r.stdout.replace(/^\S+: Writing to the journal is not supported\.\n/m, '');
    const node = (n: number) => `brw------- 0 ${user.name} ${user.name === 'root' ? 'root' : spawnSync('id', ['-gn', user.name], { encoding: 'utf8' }).stdout.trim()} 0, ${n} `;
    const lines = out.split('\n');
    assert.equal(lines[0], 'gdisk: 0', JSON.stringify(r));
    assert.ok(lines[1].startsWith(node(1)) && lines[1].endsWith(' /dev/hda1'), JSON.stringify(r));
    assert.ok(lines[2].startsWith(node(2)) && lines[2].endsWith(' /dev/hda2'), JSON.stringify(r));
    assert.equal(lines[3], 'mkfs: 0');
    // as the seed shows it: hello the user's, lost+found root's
    assert.match(out, new RegExp(`^-rw-r--r-- 1 ${user.name} \\S+ +5 .* hello\\ndrwx------ 2 root +root +12288 .* lost\\+found\\numount: 0\\numount: 0\\n$`, 'm'), JSON.stringify(r));
    assert.equal(r.stderr, 'Bad MBR signature 0 0\n');
    assert.equal(r.status, 0);
    // natively: the GPT gdisk wrote, the ext4 file system at partition 1 clean, holding hello
    const disk = path.join(t.dir, 'disk');
    assert.equal(fs.statSync(disk).uid, user.uid);
    const sgdisk = spawnSync('sgdisk', ['-p', disk], { encoding: 'utf8' });
    assert.match(sgdisk.stdout, /^ +1 +2048 +411647 +200\.0 MiB +8300 /m, sgdisk.stdout + sgdisk.stderr);
    assert.match(sgdisk.stdout, /^ +2 +411648 /m);
    const fsck = spawnSync('e2fsck', ['-fn', `${disk}?offset=1048576`], { encoding: 'utf8' });
    assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
    assert.equal(spawnSync('debugfs', ['-R', 'cat /hello', `${disk}?offset=1048576`], { encoding: 'utf8' }).stdout, 'ciao\n');
    assert.match(spawnSync('debugfs', ['-R', 'stat /hello', `${disk}?offset=1048576`], { encoding: 'utf8' }).stdout, new RegExp(`User: +${user.uid} +Group: +${user.gid} `));
  });
  it('an execute-only program (mode 0711: the kernel closes its memory to umvu) runs with a virtual file system mounted', async () => {
    const t = dirFor(work, 'exec-only', user);
    t.setup();
    prepare(`cp /bin/ls ${t.dir}/ls; chmod 711 ${t.dir}/ls`, { user });
    const script = `vu_insmod vudev && vumount -t vudevnull none /dev/null2 && ${t.dir}/ls -d /etc && echo ran`;
    const r = await runUmvu(bash(script), { user, env: { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` } });
    assert.equal(r.stdout, '/etc\nran\n', JSON.stringify(r));
  });

  it('unrealuidgid: a set-user-ID (set-group-ID) program run by the user gets its owner as effective id, as natively (where the kernel does it)', async function () {
    if (process.getuid?.() !== 0) this.skip(); // a set-user-ID root program is made by root
    const t = dirFor(work, 'set-id', user);
    t.setup();
    prepare(`cp /usr/bin/id ${t.dir}/suid; chown root:root ${t.dir}/suid; chmod 4755 ${t.dir}/suid; cp /usr/bin/id ${t.dir}/sgid; chown root:staff ${t.dir}/sgid; chmod 2755 ${t.dir}/sgid`);
    const programs = `${t.dir}/suid; ${t.dir}/sgid; python3 -c 'import os; print(os.getresuid(), os.getresgid())'`;
    const native = prepare(programs, { user });
    const r = await runUmvu(bash(`vu_insmod unrealuidgid || exit 11; ${programs}`), { user, env: { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` } });
    assert.match(native, /euid=0\(root\)[^\n]*\n[^\n]*egid=50\(staff\)/);
    assert.equal(r.stdout, native, JSON.stringify(r));
  });

  it('chroot into a tree of dynamic programs (any user may chroot in a view)', async () => {
    const t = dirFor(work, 'chroot', user);
    t.setup();
    makeChrootTree(path.join(t.dir, 'root'), ['bash', 'ls', 'cat']);
    const r = await runUmvu(['/usr/sbin/chroot', path.join(t.dir, 'root'), '/bin/bash', '-c', 'ls /; cat /etc/motd; cd /etc; pwd; /bin/script x'], { user });
    assert.equal(r.stdout, `bin\netc\nlib\nlib64\nhello from the chroot\n/etc\nscript /bin/script x\n`, JSON.stringify(r));
  });
  it('the VUOS mincow tutorial on /: edits of /etc that the user may not make happen in the overlay only, chown and chmod too', async () => {
    const t = dirFor(work, 'mincow-root', user);
    t.setup();
    const overlay = path.join(t.dir, 'newroot');
    // the overlay is made by the user itself; /tmp and the checkout stay real (except=)
    const script = `set -e; mkdir ${overlay}; vu_insmod vufs; vumount -t vufs -o mincow,except=/tmp,except=/proc,except=/dev,except=/sys,except=/work ${overlay} /
grep -v '^${user.name}:' /etc/passwd > ${t.dir}/passwd; cat ${t.dir}/passwd > /etc/passwd; whoami 2>&1 || true; rm /etc/protocols; ls -l /etc/protocols 2>&1 || true
chmod 600 /etc/passwd; stat -c '%a %u:%g' /etc/passwd; chown ${user.uid} /etc/passwd; ls -l /etc/passwd | cut -d' ' -f1,3,4
grep -c . /etc/group >/dev/null && echo group readable`;
    const r = await runUmvu(bash(script), { user, env: { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` } });
    assert.equal(
      r.stdout,
      // (edited in place, as an editor does in a directory it may not write: the copy in the
      // overlay keeps root's ownership, which the layer keeps, until the chown)
      `whoami: cannot find name for user ID ${user.uid}\nls: cannot access '/etc/protocols': No such file or directory\n600 0:0\n-rw------- ${user.uid} root\ngroup readable\n`,
      JSON.stringify(r),
    );
    // the host is untouched; the overlay holds the edited copy and the whiteout
    assert.match(fs.readFileSync('/etc/passwd', 'utf8'), new RegExp(`^${user.name}:`, 'm'));
    assert.ok(fs.existsSync('/etc/protocols'));
    assert.ok(fs.existsSync(path.join(overlay, 'etc/passwd')) && fs.existsSync(path.join(overlay, '.-/etc/protocols')));
  });
  it('vunet as the user: a stack on vde:///SWITCH (a veth pair: no /dev/net/tun), ip link in it, vde0 up with an address, ping a view on the same switch', async () => {
    const t = dirFor(work, 'vunet', user);
    t.setup();
    // the switch is the test's (root's when run as root), open to everyone; the other view runs
    // as the test does (as root: a tap), so the two kinds of interface meet
    const sw = path.join(t.dir, 'switch');
    const pidFile = path.join(t.dir, 'switch.pid');
    const start = spawnSync('vde_switch', ['-d', '-s', sw, '-m', '0777', '--dirmode', '0777', '-p', pidFile], { encoding: 'utf8' });
    assert.equal(start.status, 0, `vde_switch: ${start.error ?? start.stderr}`);
    const waitfor = `waitfor() { for i in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.05; done; echo "timed out waiting for $1"; exit 9; }`;
    const env = { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` };
    try {
      for (let i = 0; i < 100 && !fs.existsSync(path.join(sw, 'ctl')); i++) spawnSync('sleep', ['0.05']);
      // the peer is up before the user's vde0 comes up, and pings it once it is
      const peer = `${waitfor}; cd ${t.dir}; vu_insmod vunet || exit 11; vumount -t vunetvdestack vde://${sw} /dev/net/peer || exit 12
vustack /dev/net/peer bash -c 'ip addr add 10.250.9.1/24 dev vde0 && ip link set vde0 up' || exit 13
touch peer.up; waitfor user.up
echo "== ping"; vustack /dev/net/peer ping -c 3 -i 0.2 -W 5 10.250.9.2 | grep transmitted
touch peer.pinged; waitfor user.done`;
      const mine = `${waitfor}; cd ${t.dir}; vu_insmod vunet || exit 11; vumount -t vunetvdestack vde://${sw} /dev/net/myvde || exit 12
echo "== id"; id -u
echo "== link"; vustack /dev/net/myvde ip link
echo "== kind"; vustack /dev/net/myvde ip -d -o link show vde0
waitfor peer.up
vustack /dev/net/myvde bash -c 'ip addr add 10.250.9.2/24 dev vde0 && ip link set vde0 up' || exit 13
echo "== addr"; vustack /dev/net/myvde ip -o -4 addr show vde0
touch user.up
echo "== ping"; vustack /dev/net/myvde ping -c 3 -i 0.2 -W 5 10.250.9.1 | grep transmitted
waitfor peer.pinged
echo "== host"; ip -o link
touch user.done`;
      const [p, r] = await Promise.all([runUmvu(bash(peer), { env, timeoutMs: 40_000 }), runUmvu(bash(mine), { user, env, timeoutMs: 40_000 })]);
      const both = `user view: ${JSON.stringify(r)}\npeer view: ${JSON.stringify(p)}`;
      assert.equal(r.status, 0, both);
      assert.equal(p.status, 0, both);
      const s: Record<string, string> = {};
      for (const part of r.stdout.split(/^== /m).slice(1)) s[part.slice(0, part.indexOf('\n'))] = part.slice(part.indexOf('\n') + 1);
      const names = (out: string) => [...out.matchAll(/^\d+: ([^:@\s]+)[@:]/gm)].map((m) => m[1]);
      assert.equal(s.id, `${user.uid}\n`);
      assert.deepEqual(names(s.link), ['lo', 'vde0'], both);
      assert.match(s.link, /^2: vde0@\S+: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN /m, both);
      assert.match(s.kind, / veth /, both);
      assert.match(s.addr, /^2: vde0 +inet 10\.250\.9\.2\/24 scope global vde0/, both);
      assert.match(s.ping, /^3 packets transmitted, 3 received, 0% packet loss/, both);
      assert.match(p.stdout, /^== ping\n3 packets transmitted, 3 received, 0% packet loss/m, both);
      // the view's own stack is still the host's
      assert.deepEqual(names(s.host), names(spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout));
    } finally {
      const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : 0;
      if (pid > 1) process.kill(pid, 'SIGTERM');
    }
  });
  it('unrealuidgid as the user: vusu is root in the view only (host files stay the user\'s, chown there is refused), the issue\'s example with mount(8)/umount(8), files made as root in the image are 0:0', async () => {
    const t = dirFor(work, 'vusu', user);
    t.setup();
    const img = path.join(t.dir, 'disk.ext4');
    const mnt = path.join(t.dir, 'mnt');
    const tarFile = path.join(t.dir, 'out.tar');
    const hostFile = path.join(t.dir, 'hostfile');
    // the image, its tree and the oracle of a refused chown: the user's, natively
    prepare(`cd ${t.dir}; mkdir -p tree/srv/www tree/dev mnt native view; echo hi > tree/srv/www/index.html; echo conf > tree/srv/conf
mkfs.ext4 -q -d tree disk.ext4 16M; cd native; touch f; chown 0:0 f 2> chown.err || echo "chown: $?" >> chown.err`, { user });
    const script = `cd ${t.dir}; umask 022
echo "== nomodule"; vusu -c 'id -u' 2>&1; echo "vusu: $?"
vu_insmod unrealuidgid vufuse || exit 11
echo "== host"; vusu -c 'id -u; touch ${hostFile}; stat -c %u ${hostFile}'
echo "== chown"; vusu -c 'cd view; touch f; chown 0:0 f 2>&1 || echo "chown: $?"'
echo "== issue"; vusu -c "mount -t vufuseext2 -o rw+ ${img} ${mnt}; echo mount: \\$?; grep ' ${mnt} ' /proc/self/mounts; chown -R 2000:4000 ${mnt}/srv; mknod ${mnt}/dev/null c 1 3; touch ${mnt}/byroot; ls -ln ${mnt}/srv ${mnt}/dev; tar -C ${mnt} -cpf ${tarFile} .; echo tar: \\$?; umount ${mnt}; echo umount: \\$?; grep -c ' ${mnt} ' /proc/self/mounts"
echo "== after"; id -u`;
    const r = await runUmvu(bash(script), { user, env: { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` } });
    const s: Record<string, string> = {};
    for (const part of r.stdout.replace(/^\S+: Writing to the journal is not supported\.\n/m, '').split(/^== /m).slice(1)) s[part.slice(0, part.indexOf('\n'))] = part.slice(part.indexOf('\n') + 1);
    const all = JSON.stringify(r);
    assert.equal(r.status, 0, all);
    // without the module the kernel refuses: the user is not root
    assert.match(s.nomodule, /^vusu: Operation not permitted\nvusu: 1\n$/, all);
    // root in the view, the user for the kernel
    assert.equal(s.host, `0\n${user.uid}\n`, all);
    assert.equal(fs.statSync(hostFile).uid, user.uid);
    assert.equal(s.chown, fs.readFileSync(path.join(t.dir, 'native/chown.err'), 'utf8'), all);
    assert.match(s.chown, /^chown: changing ownership of 'f': Operation not permitted\nchown: 1\n$/);
    const undated = (out: string) =>
      out
        .replace(/ +/g, ' ')
        .replace(/ (\w{3} \d+ (\d\d:\d\d|\d{4})|\d{4}-\d\d-\d\d \d\d:\d\d) /g, ' DATE ')
        .replace(/^total \d+$/gm, 'total N');
    assert.equal(
      undated(s.issue),
      `mount: 0\n${img} ${mnt} vufuseext2 ${s.issue.split('\n')[1].split(' ')[3]} 0 0\n${mnt}/dev:\ntotal N\ncrw-r--r-- 1 0 0 1, 3 DATE null\n\n${mnt}/srv:\ntotal N\n-rw-r--r-- 1 2000 4000 5 DATE conf\ndrwxr-xr-x 2 2000 4000 1024 DATE www\ntar: 0\numount: 0\n0\n`,
      all,
    );
    assert.match(s.issue.split('\n')[1], new RegExp(`^${img} ${mnt} vufuseext2 rw[ ,]`));
    assert.equal(s.after, `${user.uid}\n`);
    // natively: the archive, the image
    const tv = spawnSync('tar', ['tvf', tarFile], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    assert.equal(tv.status, 0, tv.stderr);
    assert.deepEqual(
      undated(tv.stdout)
        .split('\n')
        .filter((l) => / \.\/(srv|dev\/null|byroot)/.test(l))
        .sort(),
      [
        '-rw-r--r-- 2000/4000 3 DATE ./srv/www/index.html',
        '-rw-r--r-- 2000/4000 5 DATE ./srv/conf',
        '-rw-r--r-- root/root 0 DATE ./byroot',
        'crw-r--r-- root/root 1,3 DATE ./dev/null',
        'drwxr-xr-x 2000/4000 0 DATE ./srv/',
        'drwxr-xr-x 2000/4000 0 DATE ./srv/www/',
      ],
      tv.stdout,
    );
    const stat = (f: string) => spawnSync('debugfs', ['-R', `stat ${f}`, img], { encoding: 'utf8' }).stdout;
    assert.match(stat('/srv'), /User: +2000 +Group: +4000 /);
    assert.match(stat('/dev/null'), /Type: character special +Mode: +0644 [^]*User: +0 +Group: +0 [^]*Device major\/minor number: 01:03 /);
    assert.match(stat('/byroot'), /User: +0 +Group: +0 /);
    // (the tree mkfs.ext4 copied keeps the user's ids)
    assert.match(stat('/dev'), new RegExp(`User: +${user.uid} +Group: +${user.gid} `));
    const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
  });
  it('vumisctime as the user: the view\'s clock an hour ahead (date, python3, a static program), stopped, set with date -s; the host\'s clock is not', async () => {
    const t = dirFor(work, 'vumisctime', user);
    t.setup();
    const clock = path.join(t.dir, 'clock');
    // a static program reads the time without the C library's dynamic vDSO lookup
    prepare(`cd ${t.dir}; printf '#include <stdio.h>\\n#include <time.h>\\nint main(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t); printf("%%ld\\\\n", (long)t.tv_sec); return 0; }\\n' > now.c
gcc -static -o now now.c 2>/dev/null || gcc -o now now.c`, { user });
    const script = `cd ${t.dir}; vu_insmod vumisc; vumount -t vumisctime none ${clock} || exit 1; echo 3600 > ${clock}/offset
date +%s; python3 -c 'import time; print(int(time.time()))'; ./now
echo 0 > ${clock}/frequency; a=$(date +%s.%N); sleep 0.5; b=$(date +%s.%N); [ "$a" = "$b" ] && echo stopped
date -s @2000000000 > /dev/null && date +%s`;
    const before = Date.now() / 1000;
    const r = await runUmvu(bash(script), { user, env: { PATH: `${path.join(REPO, 'packages/cli/bin')}:${BASE_PATH}` } });
    const after = Date.now() / 1000;
    assert.equal(r.status, 0, JSON.stringify(r));
    const lines = r.stdout.split('\n');
    for (const line of lines.slice(0, 3)) assert.ok(Number(line) >= before + 3598 && Number(line) <= after + 3602, JSON.stringify(r));
    assert.equal(lines[3], 'stopped', JSON.stringify(r));
    assert.equal(lines[4], '2000000000', JSON.stringify(r));
    const host = Number(spawnSync('date', ['+%s'], { encoding: 'utf8' }).stdout);
    assert.ok(Math.abs(host - Date.now() / 1000) < 2);
  });
});
