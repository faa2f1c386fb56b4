/**
 * unrealuidgid and vusu as users meet them: become root (or anyone) in a view, with no password
 * and no permission check, while the host keeps seeing the real user. Real programs are the
 * oracle: id, whoami and su (natively, when the suite runs as root) for vusu; the kernel itself
 * for the POSIX rules of the set*id calls (the same python3 script run natively as root must
 * print the same lines); tar, debugfs and e2fsck natively for the owners of what a virtual
 * root made in an ext4 image served by fuse2fs (vufuse), and mount(8)/umount(8) of util-linux
 * inside the view.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, run as runIn, sections, testEnv, tmpdir, umvuBash, type Result } from '../../cli/test/run.js';

const isRoot = process.getuid?.() === 0;
/** python3 of the system (the same for every user: no pyenv shims) */
const PYTHON = '/usr/bin/python3';
const VUSU = path.join(BIN, 'vusu');
/** the C locale for programs' messages and dates, natively and in views; mkfs, debugfs... for anyone */
const ENV = testEnv({ LC_ALL: 'C', PATH: `${BIN}:${process.env.PATH}:/usr/sbin:/sbin` });
const run: typeof runIn = (cmd, args, opts = {}) => runIn(cmd, args, { env: ENV, ...opts });

/**
 * a view running `script` in `cwd` (its stdout, stderr and status); stdin is /dev/null (bash
 * reads the rc file of HOME when its stdin is a socket, as node's pipes are)
 */
const view = (cwd: string, script: string) => umvuBash(`cd ${cwd} || exit 99; ${script}`, [], { timeout: 60_000, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
const stderrLines = (r: Result) => r.stderr.split('\n').filter(Boolean);
const show = (r: Result) => `status ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
/** without fuse2fs' own notice (it prints it on its stdout, which is the view's, natively too) */
const quiet = (out: string) => out.replace(/^\S+: Writing to the journal is not supported\.\n/gm, '');
/** `ls -l` / `tar tv` lines with their date and time as DATE, runs of blanks as one, `total N` */
const undated = (out: string) =>
  out
    .replace(/ +/g, ' ')
    .replace(/ (\w{3} \d+ (\d\d:\d\d|\d{4})|\d{4}-\d\d-\d\d \d\d:\d\d) /g, ' DATE ')
    .replace(/^total \d+$/gm, 'total N');
/** "User Group" of a file in an ext4 image, as debugfs reads it natively */
function owner(image: string, file: string): string {
  const r = run('debugfs', ['-R', `stat ${file}`, image]);
  const m = /User: +(\d+) +Group: +(\d+)/.exec(r.stdout);
  assert.ok(m, `debugfs stat ${file}: ${r.stdout}${r.stderr}`);
  return `${m[1]}:${m[2]}`;
}
function assertExtClean(image: string): void {
  const r = run('e2fsck', ['-fn', image]);
  assert.equal(r.status, 0, `e2fsck -fn ${image}: ${r.stdout}${r.stderr}`);
}

interface PasswdUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** its supplementary groups (/etc/group lists it), besides its primary one */
  more: number[];
}
const passwd = (): PasswdUser[] => {
  const groups = fs
    .readFileSync('/etc/group', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4);
  return fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({
      name: f[0],
      uid: Number(f[2]),
      gid: Number(f[3]),
      home: f[5],
      shell: f[6],
      more: groups.filter((g) => g[3].split(',').includes(f[0]) && Number(g[2]) !== Number(f[3])).map((g) => Number(g[2])),
    }));
};
/** root's entry of /etc/passwd */
const ROOT_USER = passwd().find((u) => u.uid === 0)!;
/** a non-root user of /etc/passwd (not the one running the tests), one with supplementary groups if there is one */
const OTHER = (() => {
  const users = passwd().filter((u) => u.uid !== 0 && u.uid !== process.getuid?.() && u.uid < 65534);
  return users.find((u) => u.more.length > 0) ?? users[0];
})();
/** the value of KEY in /etc/login.defs */
const loginDefs = (key: string) => {
  try {
    return new RegExp(`^\\s*${key}\\s+(\\S+)`, 'm').exec(fs.readFileSync('/etc/login.defs', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
};

/**
 * The POSIX rules of the set*id calls, one scenario per forked child: `ids` starts as the user
 * running it (setresuid(1,2,3) straight away) and then from root (setresgid/setgroups/setresuid
 * to 0) for each rule; `exec` checks what an exec'd program has. Natively it needs root; in a
 * view with unrealuidgid anyone gets the same lines.
 */
const POSIX_PY = `import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
def out(*a):
    print(*a, flush=True)
def root():
    os.setresgid(0, 0, 0); os.setgroups([]); os.setresuid(0, 0, 0)
def scenario(name, body):
    pid = os.fork()
    if pid == 0:
        try:
            out(name, *body())
        except OSError as e:
            out(name, 'error', e.errno)
        os._exit(0)
    os.waitpid(pid, 0)
def after(setup, call):
    def body():
        root(); setup(); call()
        return os.getresuid(), os.getresgid()
    return body
none = lambda: None
def first():
    os.setresgid(4, 5, 6); os.setresuid(1, 2, 3)
    return os.getresuid(), os.getresgid(), 'fs', libc.setfsuid(-1), libc.setfsgid(-1)
def fsids():
    root()
    return ('uid', libc.setfsuid(1234), libc.setfsuid(-1), libc.setfsuid(5), libc.setfsuid(-1),
            'gid', libc.setfsgid(888), libc.setfsgid(-1), libc.setfsgid(-1), os.getresuid(), os.getresgid())
def groups():
    root(); os.setgroups([100, 200, 300]); g = os.getgroups()
    small = (ctypes.c_uint * 1)()
    n, r = libc.getgroups(0, None), libc.getgroups(1, small)
    err = ctypes.get_errno()
    os.setgroups([])
    return g, n, r, err, os.getgroups()
def changed():
    root(); os.setresgid(4, 5, 6); os.setgroups([7, 8]); os.setresuid(1, 2, 3)
def inherit():
    changed()
    pid = os.fork()
    if pid == 0:
        out('fork child', os.getresuid(), os.getresgid(), os.getgroups())
        pid = os.fork()
        if pid == 0:
            out('fork grandchild', os.getresuid(), os.getresgid(), os.getgroups())
            os._exit(0)
        os.waitpid(pid, 0)
        os._exit(0)
    os.waitpid(pid, 0)
    py = subprocess.run([sys.executable, '-c', 'import os; print(os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups())'], capture_output=True, text=True)
    ids = [subprocess.run(['id', o], capture_output=True, text=True).stdout.strip() for o in ('-ru', '-u', '-rg', '-g', '-G')]
    return 'exec', py.stdout.strip(), 'id', *ids
def exec_saved():
    changed()
    py = subprocess.run([sys.executable, '-c', 'import os; print(os.getresuid(), os.getresgid())'], capture_output=True, text=True)
    return py.stdout.strip(),
if sys.argv[1] == 'ids':
    scenario('setresuid(1,2,3)', first)
    scenario('setreuid(10,20)', after(none, lambda: os.setreuid(10, 20)))
    scenario('setreuid(-1,20)', after(none, lambda: os.setreuid(-1, 20)))
    scenario('(5,0,7) setreuid(-1,5)', after(lambda: os.setresuid(5, 0, 7), lambda: os.setreuid(-1, 5)))
    scenario('(0,0,7) setreuid(3,-1)', after(lambda: os.setresuid(0, 0, 7), lambda: os.setreuid(3, -1)))
    scenario('(0,0,7) setreuid(-1,-1)', after(lambda: os.setresuid(0, 0, 7), lambda: os.setreuid(-1, -1)))
    scenario('setregid(11,21)', after(none, lambda: os.setregid(11, 21)))
    scenario('(5,0,7) setregid(-1,5)', after(lambda: os.setresgid(5, 0, 7), lambda: os.setregid(-1, 5)))
    scenario('(0,0,7) setregid(3,-1)', after(lambda: os.setresgid(0, 0, 7), lambda: os.setregid(3, -1)))
    scenario('setuid(42)', after(none, lambda: os.setuid(42)))
    scenario('(5,0,7) setuid(42)', after(lambda: os.setresuid(5, 0, 7), lambda: os.setuid(42)))
    scenario('(5,6,7) setuid(7)', after(lambda: os.setresuid(5, 6, 7), lambda: os.setuid(7)))
    scenario('setgid(43)', after(none, lambda: os.setgid(43)))
    scenario('(5,6,7)/(1,1,1) setgid(5)', after(lambda: (os.setresgid(5, 6, 7), os.setresuid(1, 1, 1)), lambda: os.setgid(5)))
    scenario('setfsuid', fsids)
    scenario('setgroups', groups)
    scenario('inherit', inherit)
else:
    scenario('exec', exec_saved)
`;
/** what the kernel answers (checked natively when the suite runs as root) */
const POSIX_IDS = `setresuid(1,2,3) (1, 2, 3) (4, 5, 6) fs 2 5
setreuid(10,20) (10, 20, 20) (0, 0, 0)
setreuid(-1,20) (0, 20, 20) (0, 0, 0)
(5,0,7) setreuid(-1,5) (5, 5, 7) (0, 0, 0)
(0,0,7) setreuid(3,-1) (3, 0, 0) (0, 0, 0)
(0,0,7) setreuid(-1,-1) (0, 0, 7) (0, 0, 0)
setregid(11,21) (0, 0, 0) (11, 21, 21)
(5,0,7) setregid(-1,5) (0, 0, 0) (5, 5, 7)
(0,0,7) setregid(3,-1) (0, 0, 0) (3, 0, 0)
setuid(42) (42, 42, 42) (0, 0, 0)
(5,0,7) setuid(42) (42, 42, 42) (0, 0, 0)
(5,6,7) setuid(7) (5, 7, 7) (0, 0, 0)
setgid(43) (0, 0, 0) (43, 43, 43)
(5,6,7)/(1,1,1) setgid(5) (1, 1, 1) (5, 5, 7)
setfsuid uid 0 1234 1234 5 gid 0 888 888 (0, 0, 0) (0, 0, 0)
setgroups [100, 200, 300] 3 -1 22 []
fork child (1, 2, 3) (4, 5, 6) [7, 8]
fork grandchild (1, 2, 3) (4, 5, 6) [7, 8]
inherit exec 1 2 4 5 [7, 8] id 1 2 4 5 4 5 7 8
`;
/** execve(2): "the effective IDs are copied to the saved set-user-ID and saved set-group-ID" */
const POSIX_EXEC = 'exec (1, 2, 2) (4, 5, 5)\n';

describe('unrealuidgid: virtual user and group ids in a view (vusu)', function () {
  this.timeout(120_000);
  let work = '';
  let posixPy = '';
  const nativeId = run('id', []).stdout;
  before(() => {
    work = tmpdir('unrealuidgid-');
    fs.chmodSync(work, 0o755);
    posixPy = path.join(work, 'posix.py');
    fs.writeFileSync(posixPy, POSIX_PY);
  });

  it('vusu: root by default (id, whoami), before it id is the native one; vusu USER takes its ids and groups as `id USER` says; an unknown user', () => {
    const dir = path.join(work, 'vusu');
    fs.mkdirSync(dir);
    const r = view(
      dir,
      `echo "== before"; id
vu_insmod unrealuidgid || exit 11
echo "== loaded"; id
echo "== root"; vusu -c 'id; whoami'; echo "vusu: $?"
echo "== user"; vusu -s /bin/sh ${OTHER.name} -c 'id; whoami; echo $0'; echo "vusu: $?"
echo "== number"; vusu -s /bin/sh ${OTHER.uid} -c 'id -u; id -g; id -G'
echo "== unknown"; vusu nosuchuser 2>&1; echo "vusu: $?"
echo "== back"; vusu -s /bin/sh ${OTHER.name} -c '${VUSU} -c "id -u; whoami"'
echo "== after"; id`,
    );
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stderr, '', show(r));
    const s = sections(r.stdout);
    assert.equal(s.before, nativeId);
    assert.equal(s.loaded, nativeId, 'vu_insmod changes no id');
    assert.equal(s.root, 'uid=0(root) gid=0(root) groups=0(root)\nroot\nvusu: 0\n');
    const idOther = run('id', [OTHER.name]);
    assert.equal(idOther.status, 0, idOther.stderr);
    assert.equal(s.user, `${idOther.stdout}${OTHER.name}\n/bin/sh\nvusu: 0\n`, `the groups of ${OTHER.name}`);
    assert.equal(s.number, `${OTHER.uid}\n${OTHER.gid}\n${run('id', ['-G', OTHER.name]).stdout}`);
    assert.equal(s.unknown, 'Unknown id: nosuchuser\nvusu: 1\n');
    // no permission checks: anyone becomes root again
    assert.equal(s.back, '0\nroot\n');
    assert.equal(s.after, nativeId, 'the shell that ran vusu keeps its ids');
    if (isRoot) {
      // the oracle: su does the same for real
      assert.equal(run('su', ['-c', 'id; whoami']).stdout, 'uid=0(root) gid=0(root) groups=0(root)\nroot\n');
      // (su gives the shell its base name as argv[0], VUOS' vusu the shell's path)
      assert.equal(run('su', ['-s', '/bin/sh', OTHER.name, '-c', 'id; whoami'], { cwd: dir }).stdout, s.user.replace('/bin/sh\nvusu: 0\n', ''));
    }
  });

  it('vusu -l: a login shell at root\'s home with HOME USER LOGNAME and the login.defs PATH, a clean environment; -m keeps HOME; without -m HOME is root\'s', () => {
    const dir = path.join(work, 'login');
    fs.mkdirSync(dir);
    const r = view(
      dir,
      `vu_insmod unrealuidgid || exit 11
echo "== login"; FOO=bar TERM=dumb vusu -l -c 'pwd; echo $HOME $USER $LOGNAME; echo $0 \${FOO-unset} $TERM'
echo "== dash"; vusu - -c 'pwd'
echo "== preserve"; HOME=/nonexistent/keep USER=someone SHELL=/bin/sh vusu -m -c 'echo $HOME $USER; echo $0'
echo "== plain"; HOME=/nonexistent/keep FOO=bar vusu -c 'echo $HOME $USER $LOGNAME $FOO; pwd; echo $0; echo $PATH'`,
    );
    assert.equal(r.status, 0, show(r));
    // (bash reads root's dot files: the kernel keeps them from a user that is not root)
    assert.ok(
      stderrLines(r).every((l) => new RegExp(`^\\S+: ${ROOT_USER.home}/\\.\\w+: Permission denied$`).test(l)) && (isRoot ? r.stderr === '' : true),
      show(r),
    );
    const s = sections(r.stdout);
    // chdir is real: the tests' user may not enter root's home (DEFAULT_HOME yes: then /)
    let home = ROOT_USER.home;
    try {
      fs.accessSync(home, fs.constants.X_OK);
    } catch {
      home = loginDefs('DEFAULT_HOME') === 'yes' ? '/' : dir;
    }
    const shell = ROOT_USER.shell || '/bin/sh';
    const supath = loginDefs('ENV_SUPATH')?.replace(/^PATH=/, '') ?? '/sbin:/bin:/usr/sbin:/usr/bin';
    // (the login shell's profile may change PATH: it is checked without -l; argv[0] is
    // -SHELL, as the base name for su, the path for VUOS' vusu)
    assert.match(s.login, new RegExp(`^${home}\\n${ROOT_USER.home} root root\\n-(${shell}|${path.basename(shell)}) unset dumb\\n$`));
    assert.equal(s.dash, `${home}\n`);
    assert.equal(s.preserve, '/nonexistent/keep someone\n/bin/sh\n');
    assert.equal(s.plain, `${ROOT_USER.home} root root bar\n${dir}\n${shell}\n${supath}\n`);
  });

  it('POSIX set*id rules in the view without permission checks (python3 os.*; the kernel agrees as root): setresuid, setreuid/setregid saved ids, setuid/setgid as root and not, setfsuid, setgroups, fork/exec inherit', () => {
    if (isRoot) {
      // the oracle: the kernel gives root the same answers
      const native = run(PYTHON, [posixPy, 'ids']);
      assert.equal(native.stdout, POSIX_IDS, `natively: ${native.stderr}`);
    }
    const r = view(work, `vu_insmod unrealuidgid || exit 11; ${PYTHON} ${posixPy} ids`);
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, POSIX_IDS, show(r));
    assert.equal(r.stderr, '');
  });

  it('exec sets the saved ids to the effective ones, as execve(2) does (setresuid(1,2,3), then a python3 exec\'d sees (1,2,2))', () => {
    if (isRoot) assert.equal(run(PYTHON, [posixPy, 'exec']).stdout, POSIX_EXEC, 'natively');
    const r = view(work, `vu_insmod unrealuidgid || exit 11; ${PYTHON} ${posixPy} exec`);
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, POSIX_EXEC, show(r));
  });

  it('a failed exec changes no id (ENOENT keeps the saved ids as they were); the next successful one does', () => {
    const script = `import os, subprocess, sys
os.setresgid(4, 5, 6); os.setresuid(1, 2, 3)
try:
    os.execv('/nonexistent/program', ['x'])
except OSError as e:
    print('failed exec', e.errno, os.getresuid(), os.getresgid())
subprocess.run([sys.executable, '-c', 'import os; print(os.getresuid(), os.getresgid())'])
`;
    printsInView('failexec.py', script, 'failed exec 2 (1, 2, 3) (4, 5, 6)\n(1, 2, 2) (4, 5, 5)\n');
  });

  it('an exec by a thread that is not the leader keeps the ids (the thread becomes the leader)', () => {
    const script = `import os, sys, threading, time
os.setresuid(0, 1000, 0)
threading.Thread(target=lambda: os.execv(sys.executable, [sys.executable, '-c', 'import os; print(os.getresuid())'])).start()
time.sleep(10)
`;
    printsInView('threadexec.py', script, '(0, 1000, 1000)\n');
  });

  /** a directory of work with an empty 16 MiB ext4 image and a mount point */
  function emptyImage(name: string): { dir: string; img: string; mnt: string } {
    const dir = path.join(work, name);
    const img = path.join(dir, 'disk.ext4');
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt, { recursive: true });
    const mkfs = run('mkfs.ext4', ['-q', img, '16M']);
    assert.equal(mkfs.status, 0, mkfs.stderr);
    return { dir, img, mnt };
  }

  /** python3 script prints expected in a view with unrealuidgid, and natively as root */
  function printsInView(name: string, script: string, expected: string): void {
    const file = path.join(work, name);
    fs.writeFileSync(file, script);
    if (isRoot) assert.equal(run(PYTHON, [file]).stdout, expected, 'natively');
    const r = view(work, `vu_insmod unrealuidgid || exit 11; ${PYTHON} ${file}`);
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, expected, show(r));
  }

  it('a child forked before its parent changes ids keeps the old ones, even if it makes no call umvu sees until then', () => {
    // (read(2) of a pipe is not notified: the child meets umvu only afterwards;
    // gids: as root natively, the uid could not change twice)
    printsInView(
      'newborns.py',
      `import os
os.setresgid(1, 1, 1)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.read(r, 1)
    print("child", os.getresgid(), flush=True)
    os._exit(0)
os.setresgid(2, 2, 2)
os.write(w, b"x")
os.waitpid(pid, 0)
print("parent", os.getresgid(), flush=True)
`,
      'child (1, 1, 1)\nparent (2, 2, 2)\n',
    );
  });

  it('a process outside the subtree that changed its ids keeps the real ones (a sibling, the parent shell, the python3 that forked)', () => {
    const dir = path.join(work, 'sibling');
    fs.mkdirSync(dir);
    const r = view(
      dir,
      `vu_insmod unrealuidgid || exit 11
${PYTHON} -c '
import os, time
os.setresgid(4, 5, 6); os.setgroups([7, 8]); os.setresuid(1, 2, 3)
open("changed", "w").close()
while not os.path.exists("done"): time.sleep(0.02)
print("changer", os.getresuid(), os.getresgid(), os.getgroups(), flush=True)
print("".join(l for l in open("/proc/self/status") if l.startswith(("Uid:", "Gid:"))), end="", flush=True)
' &
while [ ! -e changed ]; do sleep 0.02; done
echo "== sibling"; id; ${PYTHON} -c 'import os; print(os.getresuid(), os.getresgid())'
touch done; wait
echo "== parent"; id`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    const [uid, gid] = [process.getuid!(), process.getgid!()];
    // (and the kernel still says the real ids of the process that changed them)
    assert.equal(s.sibling, `${nativeId}(${uid}, ${uid}, ${uid}) (${gid}, ${gid}, ${gid})\nchanger (1, 2, 3) (4, 5, 6) [7, 8]\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nGid:\t${gid}\t${gid}\t${gid}\t${gid}\n`);
    assert.equal(s.parent, nativeId);
  });

  it('the issue\'s example: vusu, then mount(8) an ext4 image (vufuseext2 rw+), chown -R 2000:4000 srv, mknod dev/null, ls -ln, tar -cpf, umount(8); natively tar tvf, debugfs and e2fsck agree', () => {
    const dir = path.join(work, 'issue');
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(path.join(tree, 'srv/www'), { recursive: true });
    fs.mkdirSync(path.join(tree, 'dev'));
    fs.writeFileSync(path.join(tree, 'srv/www/index.html'), 'hi\n');
    fs.writeFileSync(path.join(tree, 'srv/conf'), 'conf\n');
    const img = path.join(dir, 'disk.ext4');
    const mnt = path.join(dir, 'mnt');
    const tarFile = path.join(dir, 'out.tar');
    fs.mkdirSync(mnt);
    const mkfs = run('mkfs.ext4', ['-q', '-d', tree, img, '16M']);
    assert.equal(mkfs.status, 0, mkfs.stderr);
    const r = view(
      dir,
      `umask 022; vu_insmod unrealuidgid vufuse || exit 11
vusu -c 'mount -t vufuseext2 -o rw+ ${img} ${mnt}; echo "mount: $?"; echo "== mounts"; cat /proc/self/mounts; echo "== ls"; chown -R 2000:4000 ${mnt}/srv; mknod ${mnt}/dev/null c 1 3; ls -ln ${mnt}/srv ${mnt}/dev; echo "== tar"; tar -C ${mnt} -cpf ${tarFile} .; echo "tar: $?"; umount ${mnt}; echo "umount: $?"; echo "== after"; cat /proc/self/mounts'`,
    );
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stderr, '', show(r));
    const s = sections(quiet(r.stdout));
    assert.equal(r.stdout.split('\n')[0], 'mount: 0', show(r));
    assert.ok(s.mounts.split('\n').some((l) => l.startsWith(`${img} ${mnt} vufuseext2 rw`)), `the mount in /proc/self/mounts:\n${s.mounts}`);
    assert.ok(!s.after.includes(` ${mnt} `), `still in /proc/self/mounts after umount:\n${s.after}`);
    assert.equal(
      undated(s.ls),
      `${mnt}/dev:\ntotal N\ncrw-r--r-- 1 0 0 1, 3 DATE null\n\n${mnt}/srv:\ntotal N\n-rw-r--r-- 1 2000 4000 5 DATE conf\ndrwxr-xr-x 2 2000 4000 1024 DATE www\n`,
      s.ls,
    );
    assert.equal(s.tar, 'tar: 0\numount: 0\n');
    // natively: what tar archived, what the image holds
    const tv = run('tar', ['tvf', tarFile]);
    assert.equal(tv.status, 0, tv.stderr);
    const listed = undated(tv.stdout)
      .split('\n')
      .filter((l) => / \.\/(srv|dev\/null)/.test(l))
      .sort();
    assert.deepEqual(
      listed,
      [
        '-rw-r--r-- 2000/4000 3 DATE ./srv/www/index.html',
        '-rw-r--r-- 2000/4000 5 DATE ./srv/conf',
        'crw-r--r-- root/root 1,3 DATE ./dev/null',
        'drwxr-xr-x 2000/4000 0 DATE ./srv/',
        'drwxr-xr-x 2000/4000 0 DATE ./srv/www/',
      ],
      tv.stdout,
    );
    const srv = run('debugfs', ['-R', 'stat /srv', img]).stdout;
    assert.match(srv, /Type: directory +Mode: +0755 /);
    assert.match(srv, /User: +2000 +Group: +4000 /);
    assert.equal(owner(img, '/srv/www/index.html'), '2000:4000');
    const dev = run('debugfs', ['-R', 'stat /dev/null', img]).stdout;
    assert.match(dev, /Type: character special +Mode: +0644 /);
    assert.match(dev, /User: +0 +Group: +0 /);
    assert.match(dev, /Device major\/minor number: 01:03 /);
    assertExtClean(img);
  });

  it('owners of new files on a vufuse image follow the virtual ids (root 0:0, a vusu user, setfsuid/setfsgid), the view\'s checks too; host files stay the kernel\'s', () => {
    const { dir, img, mnt } = emptyImage('owners');
    fs.mkdirSync(path.join(dir, 'host'));
    fs.mkdirSync(path.join(dir, 'native'));
    // a group the user may give its files: a supplementary one (its own if it has none)
    const group = OTHER.more[0] ?? OTHER.gid;
    const r = view(
      dir,
      `umask 022; vu_insmod unrealuidgid vufuse || exit 11
vumount -t vufuseext2 -o rw+ ${img} ${mnt} || exit 12
echo secret > ${mnt}/secret; chmod 600 ${mnt}/secret; touch ${mnt}/mine
vusu -c 'touch ${mnt}/byroot; mkdir ${mnt}/dirbyroot; ln -s byroot ${mnt}/linkbyroot; mkfifo ${mnt}/fifobyroot; echo "== root"; cat ${mnt}/secret'
echo "== user"; vusu -s /bin/sh ${OTHER.name} -c 'touch ${mnt}/byuser; cat ${mnt}/secret; echo "cat: $?"; chown 2000 ${mnt}/byuser; echo "chown: $?"; chgrp ${group} ${mnt}/byuser; echo "chgrp: $?"; chmod 600 ${mnt}/mine; echo "chmod: $?"' 2>&1
echo "== given"; vusu -c 'touch ${mnt}/given; chown 2000:4000 ${mnt}/given; echo "chown: $?"; stat -c "%u:%g" ${mnt}/given'
echo "== fs"; ${PYTHON} -c '
import ctypes, os
libc = ctypes.CDLL(None)
print(libc.setfsuid(777) == os.getuid(), libc.setfsgid(888) == os.getgid(), os.getresuid() == (os.getuid(),) * 3)
open("${mnt}/byfs", "w").close(); st = os.stat("${mnt}/byfs"); print(st.st_uid, st.st_gid)
'
echo "== hostuser"; vusu -s /bin/sh ${OTHER.name} -c 'id -u; touch host/byuser; stat -c %u:%g host/byuser'
echo "== host"; vusu -c 'cd host; touch hostfile; stat -c %u:%g hostfile; chown 2000:4000 hostfile; echo "chown: $?"; stat -c %u:%g hostfile' 2>&1
vuumount ${mnt}; echo "umount: $?"`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(quiet(r.stdout));
    assert.equal(s.root, 'secret\n', 'root reads a 0600 file');
    assert.equal(
      s.user,
      `cat: ${mnt}/secret: Permission denied\ncat: 1\nchown: changing ownership of '${mnt}/byuser': Operation not permitted\nchown: 1\nchgrp: 0\nchmod: changing permissions of '${mnt}/mine': Operation not permitted\nchmod: 1\n`,
      show(r),
    );
    assert.equal(s.given, 'chown: 0\n2000:4000\n');
    assert.equal(s.fs, 'True True True\n777 888\n');
    // the host file is the real user's, and chown there does what it does natively for that user
    const native = run('bash', ['-c', 'cd native; touch hostfile; stat -c %u:%g hostfile; chown 2000:4000 hostfile; echo "chown: $?"; stat -c %u:%g hostfile'], { cwd: dir });
    assert.equal(s.host, `${native.stdout.replace(/\n(?=chown: \d)/, `\n${native.stderr}`)}umount: 0\n`, show(r));
    assert.equal(s.host.split('\n')[0], `${process.getuid!()}:${process.getgid!()}`);
    assert.equal(s.hostuser, `${OTHER.uid}\n${process.getuid!()}:${process.getgid!()}\n`, 'a host file made by a vusu user is the real user\'s');
    // natively: the owners fuse2fs wrote
    const me = `${process.getuid!()}:${process.getgid!()}`;
    assert.deepEqual(
      Object.fromEntries(['/mine', '/secret', '/byroot', '/dirbyroot', '/linkbyroot', '/fifobyroot', '/byuser', '/given', '/byfs'].map((f) => [f, owner(img, f)])),
      {
        '/mine': me,
        '/secret': me,
        '/byroot': '0:0',
        '/dirbyroot': '0:0',
        '/linkbyroot': '0:0',
        '/fifobyroot': '0:0',
        '/byuser': `${OTHER.uid}:${group}`,
        '/given': '2000:4000',
        '/byfs': '777:888',
      },
    );
    assertExtClean(img);
  });

  it('exec of a set-user-ID/set-group-ID file (on a vufuse image) gives its owner as effective ids (vuos.md §5.7)', () => {
    const { dir, img, mnt } = emptyImage('setuid');
    const r = view(
      dir,
      `vu_insmod unrealuidgid vufuse || exit 11
vumount -t vufuseext2 -o rw+ ${img} ${mnt} || exit 12
vusu -c 'cp /usr/bin/id ${mnt}/sid; chown 2000:3000 ${mnt}/sid; chmod 6755 ${mnt}/sid; stat -c "%A %u %g" ${mnt}/sid'
echo "== run"; vusu -s /bin/sh ${OTHER.name} -c 'for o in -ru -u -rg -g; do ${mnt}/sid $o; done'
vuumount ${mnt}`,
    );
    assert.equal(r.status, 0, show(r));
    assert.equal(quiet(r.stdout).split('\n')[0], '-rwsr-sr-x 2000 3000', show(r));
    assert.equal(sections(quiet(r.stdout)).run, `${OTHER.uid}\n2000\n${OTHER.gid}\n3000\n`, show(r));
  });

  it('outside a view vusu runs su with the same arguments', function () {
    if (!isRoot) this.skip(); // su asks others for a password
    assert.deepEqual(run('vusu', ['-c', 'id -u; whoami']), { stdout: '0\nroot\n', stderr: '', status: 0 });
  });
});
