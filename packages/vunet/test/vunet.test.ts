/**
 * vunet as users meet it: private network stacks mounted in a view (vunetvdestack on a VDE
 * switch, slirp://, vunetnull, vunetreal), chosen per process with vustack or the msocket
 * virtual syscall. Real programs are the oracle: iproute2 (`ip`, `ss`), ping and python3
 * sockets inside the views, and the same tools natively for what the host must (not) see.
 *
 * Traffic stays on this machine: the stacks' vde0 interfaces get 10.250.X.Y / 192.168.250.X
 * addresses and meet only through a vde_switch this suite starts itself (no vxvde://, nothing
 * on eth0); slirp:// is only used to reach a server of the test on the host's 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { UMVU, run, sections, testEnv, tmpdir, type Result } from '../../cli/test/run.js';

const isRoot = process.getuid?.() === 0;
const MiB = 1 << 20;

interface ViewResult extends Result {
  /** umvu's pid (the node process: bin/umvu execs it) */
  pid: number;
  timedOut: boolean;
}

/**
 * `umvu -N bash -c SCRIPT` without blocking the test (two views at once, or a server of the
 * test's own), in a process group of its own that is killed after timeoutMs.
 */
function view(script: string, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<ViewResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(UMVU, ['-N', 'bash', '-c', script], { cwd: opts.cwd, env: testEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, opts.timeoutMs ?? 40_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), status, pid: child.pid!, timedOut });
    });
  });
}

const show = (r: Result, what = 'view') => `${what}: status ${r.status}${(r as ViewResult).timedOut ? ' (TIMED OUT)' : ''}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
/** the interface names of `ip -o link` / `ip link` output ("2: vde0@if2: <...>" -> vde0) */
const linkNames = (out: string) => [...out.matchAll(/^\d+: ([^:@\s]+)[@:]/gm)].map((m) => m[1]);
const sha256File = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
/** the start time (field 22 of /proc/PID/stat) of pid, or undefined if there is no such process */
function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** python3 programs the views run (real sockets: in the stack or the host's, as socket() gives them) */
const PROGRAMS: Record<string, string> = {
  // recv.py ADDR PORT OUT READY: listen, say so, write what one client sends to OUT, then ack
  'recv.py': `import socket, sys
addr, port, out, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(1)
open(ready, "w").close()
s.settimeout(15)
c, peer = s.accept()
c.settimeout(15)
n = 0
with open(out, "wb") as f:
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        f.write(b)
        n += len(b)
c.sendall(b"ok")
c.close()
print("received", n, "from", peer[0])
`,
  // send.py ADDR PORT FILE: send FILE, half-close, wait for the receiver's ack
  'send.py': `import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
with open(sys.argv[3], "rb") as f:
    n = s.sendfile(f)
s.shutdown(socket.SHUT_WR)
ack = s.recv(2)
print("sent", n, "ack", ack.decode())
`,
  // hold.py ADDR PORT READY GO: a listener (and a unix socketpair) held until GO exists
  'hold.py': `import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
open(sys.argv[3], "w").close()
for i in range(600):
    if os.path.exists(sys.argv[4]):
        break
    time.sleep(0.05)
`,
  // bind.py ADDR: whether a new socket() may bind ADDR (it may only in the stack that has it)
  'bind.py': `import socket, sys
s = socket.socket()
try:
    s.bind((sys.argv[1], 0))
    print("bind", sys.argv[1], "ok")
except OSError as e:
    print("bind", sys.argv[1], e.strerror)
`,
  // mgmt.py SOCK: vde_switch's port/print, through its management socket
  'mgmt.py': `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"port/print\\n")
buf = b""
while b"\\n1000 Success" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
sys.stdout.write(buf.decode())
`,
};

/** bash functions every script gets: waitfor FILE (at most 15 s, else exit 9) */
const PRELUDE = `waitfor() { for i in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.05; done; echo "timed out waiting for $1"; exit 9; }`;

describe('vunet: private network stacks in a view', function () {
  this.timeout(60_000);
  let work = '';
  /** the switch: its directory (vde:///...), management socket and pid file */
  let sw = '';
  let mgmt = '';
  let swPidFile = '';
  /** the 50 MB file the transfers send */
  let payload = '';
  const py = (name: string) => path.join(work, name);
  /** writes a bash script into the work directory, the prelude first; returns its path */
  const scriptFile = (name: string, text: string) => {
    const file = path.join(work, name);
    fs.writeFileSync(file, `${PRELUDE}\n${text}\n`);
    return file;
  };
  /** the ACTIVE ports of the switch and the umvu pids of their endpoints ("umvu vunet user=... pid=N") */
  const switchPorts = (text = run('python3', [py('mgmt.py'), mgmt]).stdout) => ({
    active: (text.match(/^Port \d+ .*ACTIVE/gm) ?? []).length,
    pids: [...text.matchAll(/umvu vunet user=\S+ pid=(\d+)/g)].map((m) => Number(m[1])),
  });

  before(() => {
    for (const tool of ['vde_switch', 'ip', 'ping', 'ss', 'python3', 'ps'])
      assert.equal(run('sh', ['-c', `command -v ${tool}`]).status, 0, `${tool} is needed (apt-get install vde2 iproute2 iputils-ping python3 procps)`);
    work = tmpdir('vunet-');
    fs.chmodSync(work, 0o755);
    for (const [name, text] of Object.entries(PROGRAMS)) fs.writeFileSync(py(name), text);
    payload = path.join(work, 'payload');
    fs.writeFileSync(payload, crypto.randomBytes(50 * MiB));
    sw = path.join(work, 'switch');
    mgmt = path.join(work, 'switch.mgmt');
    swPidFile = path.join(work, 'switch.pid');
    const r = run('vde_switch', ['-d', '-s', sw, '-M', mgmt, '-m', '0777', '--dirmode', '0777', '-p', swPidFile]);
    assert.equal(r.status, 0, show(r, 'vde_switch'));
    for (let i = 0; i < 100 && !(fs.existsSync(path.join(sw, 'ctl')) && fs.existsSync(swPidFile) && fs.existsSync(mgmt)); i++) run('sleep', ['0.05']);
    assert.ok(fs.existsSync(path.join(sw, 'ctl')), `vde_switch made no ${sw}/ctl`);
  });
  after(() => {
    const pid = Number(fs.existsSync(swPidFile) ? fs.readFileSync(swPidFile, 'utf8').trim() : NaN);
    if (pid > 1) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
  });

  it('the seed example on vde:///SWITCH: the stack has only lo and vde0 (DOWN), the view keeps the host\'s links, the stack is a 0160000 file; vustack bash configures vde0', async () => {
    const hostLinks = run('ip', ['-o', 'link']);
    const hostIpLink = run('ip', ['link']).stdout;
    const r = await view(
      `vu_insmod vunet || exit 11; vumount -t vunetvdestack vde://${sw} /dev/net/myvde || exit 12
echo "== stack link"; vustack /dev/net/myvde ip link
echo "== host link"; ip link
echo "== stat"; stat -c %f /dev/net/myvde
echo "== config"; vustack /dev/net/myvde bash -c 'ip addr add 192.168.250.250/24 dev vde0 && ip link set vde0 up && ip route add default via 192.168.250.1; echo "config: $?"'
echo "== addr"; vustack /dev/net/myvde ip addr show vde0
echo "== route"; vustack /dev/net/myvde ip route
echo "== host addr"; ip -o addr`,
    );
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stderr, '', show(r));
    const s = sections(r.stdout);
    // the stack: lo and vde0 only, vde0 down; nothing of the host's links
    assert.deepEqual(linkNames(s['stack link']), ['lo', 'vde0'], s['stack link']);
    assert.match(s['stack link'], /^2: vde0(@\S+)?: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\n {4}link\/ether ([0-9a-f]{2}:){5}[0-9a-f]{2} brd ff:ff:ff:ff:ff:ff/m);
    const host = linkNames(hostLinks.stdout);
    assert.ok(host.length > 0 && host.includes('lo'), hostLinks.stdout);
    assert.deepEqual(host.filter((n) => n !== 'lo' && linkNames(s['stack link']).includes(n)), [], 'host links in the stack');
    // without vustack, the view sees exactly what ip shows natively
    assert.equal(s['host link'], hostIpLink);
    assert.equal(s.stat, 'e1ff\n');
    assert.equal(s.config, 'config: 0\n');
    // the same stack (same MAC) now up with its address and routes
    const mac = /link\/ether (\S+)/.exec(s['stack link'])![1];
    assert.match(s.addr, new RegExp(`^2: vde0(@\\S+)?: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 .*\\n {4}link/ether ${mac} brd ff:ff:ff:ff:ff:ff.*\\n {4}inet 192\\.168\\.250\\.250/24 scope global vde0\\n`), s.addr);
    assert.match(s.route, /^default via 192\.168\.250\.1 dev vde0 $/m);
    assert.match(s.route, /^192\.168\.250\.0\/24 dev vde0 proto kernel scope link src 192\.168\.250\.250 $/m);
    // the host's stack has none of it, in the view or natively
    assert.doesNotMatch(s['host addr'], /192\.168\.250\.250/);
    assert.doesNotMatch(run('ip', ['-o', 'addr']).stdout, /192\.168\.250\.250/);
  });

  /**
   * Two views on the switch, A (the receiver) and B (the sender): each pings the other, then B
   * sends the 50 MB payload to A over TCP. Files in the work directory order the steps; the two
   * bring their vde0 up concurrently, as two users would (frames of one may reach the other first).
   */
  async function pair(tag: string, subnet: string, optsA: string, optsB: string) {
    const dir = path.join(work, tag);
    fs.mkdirSync(dir);
    const received = path.join(dir, 'received');
    const a = scriptFile(
      `${tag}-a.sh`,
      `cd ${dir}; ip addr add ${subnet}.1/24 dev vde0 && ip link set vde0 up || exit 13
echo "== kind"; ip -d -o link show vde0
touch a.up; waitfor b.up
echo "== ping"; ping -c 3 -i 0.2 -W 5 ${subnet}.2
echo "== recv"; python3 ${py('recv.py')} ${subnet}.1 5001 ${received} a.listening`,
    );
    const b = scriptFile(
      `${tag}-b.sh`,
      `cd ${dir}; ip addr add ${subnet}.2/24 dev vde0 && ip link set vde0 up || exit 13
echo "== kind"; ip -d -o link show vde0
touch b.up; waitfor a.up
echo "== ping"; ping -c 3 -i 0.2 -W 5 ${subnet}.1
waitfor a.listening
echo "== send"; python3 ${py('send.py')} ${subnet}.1 5001 ${payload}`,
    );
    const mount = (opts: string) => `vu_insmod vunet || exit 11; vumount -t vunetvdestack ${opts} vde://${sw} /dev/net/n || exit 12`;
    const [ra, rb] = await Promise.all([view(`${mount(optsA)}; vustack /dev/net/n bash ${a}`), view(`${mount(optsB)}; vustack /dev/net/n bash ${b}`)]);
    assert.equal(ra.status, 0, show(ra, 'A') + show(rb, 'B'));
    assert.equal(rb.status, 0, show(rb, 'B') + show(ra, 'A'));
    const [sa, sb] = [sections(ra.stdout), sections(rb.stdout)];
    assert.match(sa.ping, /^3 packets transmitted, 3 received, 0% packet loss/m, sa.ping);
    assert.match(sb.ping, /^3 packets transmitted, 3 received, 0% packet loss/m, sb.ping);
    assert.equal(sb.send, `sent ${50 * MiB} ack ok\n`);
    assert.equal(sa.recv, `received ${50 * MiB} from ${subnet}.2\n`);
    assert.equal(fs.statSync(received).size, 50 * MiB);
    assert.equal(sha256File(received), sha256File(payload), 'the received file differs from the sent one');
    return { kindA: sa.kind, kindB: sb.kind };
  }

  it('two root views on the switch, both taps: they ping each other and 50 MB go over TCP from one to the other, sha256 intact', async function () {
    if (!isRoot) this.skip(); // (taps need /dev/net/tun: root)
    const { kindA, kindB } = await pair('taps', '10.250.1', '', '');
    assert.match(kindA, / tun type tap /, kindA);
    assert.match(kindB, / tun type tap /, kindB);
  });

  it('one view with -o veth (a veth pair and a packet socket, the unprivileged way): ping both ways and a 50 MB TCP transfer, sha256 intact', async () => {
    const { kindA, kindB } = await pair('veth', '10.250.2', '', '-o veth');
    assert.match(kindB, /^2: vde0@\S+: .* veth /, kindB);
    if (isRoot) assert.match(kindA, / tun type tap /, kindA);
    else assert.match(kindA, / veth /, kindA);
  });

  /**
   * One view, two stacks of a kind on the switch: the first is up and pings the second while its
   * vde0 is still down (the ARP broadcasts reach it: a tap refuses frames with EIO then), then
   * the second comes up and they ping each other.
   */
  async function lateUp(opts: string, subnet: string) {
    const r = await view(
      `vu_insmod vunet || exit 11; vumount -t vunetvdestack ${opts} vde://${sw} /dev/net/s1 && vumount -t vunetvdestack ${opts} vde://${sw} /dev/net/s2 || exit 12
vustack /dev/net/s1 bash -c 'ip addr add ${subnet}.1/24 dev vde0 && ip link set vde0 up' || exit 13
echo "== early"; vustack /dev/net/s1 ping -c 2 -i 0.2 -W 1 ${subnet}.2 | grep transmitted
vustack /dev/net/s2 bash -c 'ip addr add ${subnet}.2/24 dev vde0 && ip link set vde0 up' || exit 14
echo "== ping"; vustack /dev/net/s2 ping -c 3 -i 0.2 -W 5 ${subnet}.1 | grep transmitted
echo "== ping back"; vustack /dev/net/s1 ping -c 3 -i 0.2 -W 5 ${subnet}.2 | grep transmitted
echo "== kind"; vustack /dev/net/s2 ip -d -o link show vde0`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assert.match(s.early, /^2 packets transmitted, 0 received/, show(r));
    assert.match(s.ping, /^3 packets transmitted, 3 received, 0% packet loss/, show(r));
    assert.match(s['ping back'], /^3 packets transmitted, 3 received, 0% packet loss/, show(r));
    return s.kind;
  }

  it('taps: frames that reach a stack before its vde0 is up do not disconnect it (one view, two stacks, the second brought up late)', async function () {
    if (!isRoot) this.skip();
    assert.match(await lateUp('', '10.250.3'), / tun type tap /);
  });

  it('veths: the same with -o veth', async () => {
    assert.match(await lateUp('-o veth', '10.250.4'), / veth /);
  });

  it('slirp://: a view reaches a TCP server on the host\'s 127.0.0.1 through 10.0.2.2', async () => {
    const seen: { remote?: string; line?: string } = {};
    const server = net.createServer((c) => {
      seen.remote = c.remoteAddress;
      let buf = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          seen.line = buf.slice(0, nl);
          c.end(`pong ${seen.line}\n`);
        }
      });
      c.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const client = `import socket
s = socket.create_connection(("10.0.2.2", ${port}), timeout=10)
s.sendall(b"ping from the view\\n")
print(s.makefile().readline(), end="")
print("local", s.getsockname()[0])`;
      const r = await view(
        `vu_insmod vunet || exit 11; vumount -t vunetvdestack slirp:// /dev/net/slirp || exit 12
vustack /dev/net/slirp bash -c 'ip addr add 10.0.2.15/24 dev vde0 && ip link set vde0 up && ip route add default via 10.0.2.2' || exit 13
echo "== reply"; vustack /dev/net/slirp python3 -c '${client}'`,
      );
      assert.equal(r.status, 0, show(r));
      assert.equal(sections(r.stdout).reply, 'pong ping from the view\nlocal 10.0.2.15\n', show(r));
      assert.equal(seen.line, 'ping from the view');
      assert.equal(seen.remote, '127.0.0.1');
    } finally {
      server.close();
    }
  });

  it('vunetnull: sockets of the stack fail with EAFNOSUPPORT (ip: "Cannot open netlink socket"), AF_UNIX still works; vustack -v/-s, a non-stack and an unknown family', async () => {
    const r = await view(
      `vu_insmod vunet || exit 11; vumount -t vunetnull none /dev/net/null || exit 12
echo "== ip"; vustack -f netlink /dev/net/null ip addr 2>&1; echo "status $?"
echo "== verbose"; vustack -v -f ip /dev/net/null true 2>&1; echo "status $?"
echo "== all"; vustack -v /dev/net/null true 2>&1; echo "status $?"
echo "== supported"; vustack -s -v /dev/net/null true 2>&1; echo "status $?"
echo "== python"; vustack /dev/net/null python3 -c '
import socket
try:
    socket.socket()
except OSError as e:
    print("inet:", e.strerror)
a, b = socket.socketpair()
a.sendall(b"unix ok")
print(b.recv(10).decode())' 2>&1; echo "status $?"
echo "== inet only"; vustack -f inet /dev/net/null bash -c 'ip -o link | grep -c "^1: lo"; python3 -c "import socket; socket.socket(socket.AF_INET6)" && echo inet6 ok' 2>&1
echo "== tmp"; vustack /tmp true 2>&1; echo "status $?"
echo "== family"; vustack -f nosuchfamily /dev/net/null true 2>&1; echo "status $?"`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assert.equal(s.ip, 'Cannot open netlink socket: Address family not supported by protocol\nstatus 1\n');
    assert.equal(s.verbose, 'Using /dev/net/null for the following address families:\n inet(2) inet6(10) netlink(16) packet(17)\nstatus 0\n');
    assert.equal(s.all, 'Using /dev/net/null for ALL address families\nstatus 0\n');
    assert.equal(s.supported, 'Using /dev/net/null for the following address families:\n inet(2) inet6(10) netlink(16) packet(17)\nstatus 0\n');
    assert.equal(s.python, 'inet: Address family not supported by protocol\nunix ok\nstatus 0\n');
    // only AF_INET chosen: netlink and AF_INET6 stay the host's
    assert.equal(s['inet only'], '1\ninet6 ok\n');
    assert.equal(s.tmp, '/tmp: Operation not supported\nstatus 1\n');
    assert.equal(s.family, 'vustack: unknown protocol family nosuchfamily\nstatus 1\n');
  });

  it('vustack on a path that does not exist: "PATH: No such file or directory", status 1', async () => {
    const missing = path.join(work, 'no-such-stack');
    const r = await view(`vu_insmod vunet || exit 11; vustack ${missing} true 2>&1; echo "status $?"`);
    assert.equal(r.stdout, `${missing}: No such file or directory\nstatus 1\n`, show(r));
  });

  it('vunetreal is the host\'s stack; mount errors: a switch that is not there (ENOENT, with the reason on the console), an unknown stack type (ENODEV)', async () => {
    const hostLinks = run('ip', ['-o', 'link']).stdout;
    const r = await view(
      `vu_insmod vunet || exit 11; vumount -t vunetreal none /dev/net/real || exit 12
echo "== real"; vustack /dev/net/real ip -o link
echo "== noswitch"; vumount -t vunetvdestack vde://${work}/no-switch /dev/net/x; echo "status $?"; ls /dev/net/x 2>&1
echo "== notype"; vumount -t vunetnosuch none /dev/net/y; echo "status $?"`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assert.equal(s.real, hostLinks);
    assert.equal(s.noswitch, `status 1\nls: cannot access '/dev/net/x': No such file or directory\n`);
    assert.equal(s.notype, 'status 1\n');
    assert.match(r.stderr, new RegExp(`^vunetvdestack vde://${work}/no-switch: cannot join the VDE network vde://${work}/no-switch: No such file or directory\\nvumount: No such file or directory\\n`, 'm'), show(r));
    assert.match(r.stderr, /^vunetnosuch none: vunet: unknown stack type vunetnosuch\nvumount: No such device\n/m, show(r));
  });

  it('the default is inherited (children, fork, exec) and covers the Internet families only: AF_UNIX sockets stay real and visible natively', async () => {
    const dir = path.join(work, 'scope');
    fs.mkdirSync(dir);
    const unixPath = path.join(dir, 'u.sock');
    const inStack = scriptFile(
      'scope-stack.sh',
      `cd ${dir}; ip addr add 10.250.5.1/24 dev vde0 && ip link set vde0 up || exit 13
python3 ${py('hold.py')} 10.250.5.1 7001 listening go &
waitfor listening
echo "== ss"; ss -ltnH
echo "== child"; python3 ${py('bind.py')} 10.250.5.1
echo "== fork"; python3 -c '
import os, socket
pid = os.fork()
if pid == 0:
    s = socket.socket(); s.bind(("10.250.5.1", 0)); print("forked child bound", s.getsockname()[0]); os._exit(0)
os.waitpid(pid, 0)'
echo "== exec"; bash -c 'exec bash -c "exec ip -o link"'
echo "== exec python"; exec python3 -c '
import os, socket, time
a, b = socket.socketpair()
a.sendall(b"socketpair ok")
print(b.recv(20).decode())
u = socket.socket(socket.AF_UNIX)
u.bind("${unixPath}")
u.listen(1)
s = socket.socket(); s.bind(("10.250.5.1", 0)); print("after exec bound", s.getsockname()[0], flush=True)
open("unix.ready", "w").close()
u.settimeout(15)
c, _ = u.accept()
c.sendall(b"hello from the view\\n")
c.close()'`,
    );
    const running = view(
      `vu_insmod vunet || exit 11; vumount -t vunetvdestack vde://${sw} /dev/net/s || exit 12
vustack /dev/net/s bash ${inStack}; echo "stack status $?"
echo "== host ss"; ss -ltnH
echo "== host bind"; python3 ${py('bind.py')} 10.250.5.1
echo "== host link"; ip -o link`,
    );
    // natively, while the view waits: the stack's listener is nowhere to be seen, the unix socket is
    let nativeSs = '';
    let greeting = '';
    try {
      for (let i = 0; i < 300 && !fs.existsSync(path.join(dir, 'unix.ready')); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(fs.existsSync(path.join(dir, 'unix.ready')), 'the view never bound its unix socket');
      nativeSs = run('ss', ['-ltnH']).stdout;
      assert.ok(fs.statSync(unixPath).isSocket());
      greeting = await new Promise<string>((resolve, reject) => {
        let got = '';
        const c = net.connect(unixPath);
        c.setEncoding('utf8');
        c.on('data', (d: string) => (got += d));
        c.on('end', () => resolve(got));
        c.on('error', reject);
      });
    } finally {
      fs.writeFileSync(path.join(dir, 'go'), '');
    }
    const r = await running;
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    assert.match(s.ss, /^LISTEN +0 +1 +10\.250\.5\.1:7001 +0\.0\.0\.0:\*/m, s.ss);
    assert.doesNotMatch(nativeSs, /10\.250\.5\.1/);
    assert.doesNotMatch(s['host ss'], /10\.250\.5\.1/);
    assert.equal(s.child, 'bind 10.250.5.1 ok\n');
    assert.equal(s.fork, 'forked child bound 10.250.5.1\n');
    assert.deepEqual(linkNames(s.exec), ['lo', 'vde0'], s.exec);
    assert.equal(s['exec python'], 'socketpair ok\nafter exec bound 10.250.5.1\nstack status 0\n');
    assert.equal(greeting, 'hello from the view\n');
    assert.equal(s['host bind'], 'bind 10.250.5.1 Cannot assign requested address\n');
    assert.deepEqual(linkNames(s['host link']), linkNames(run('ip', ['-o', 'link']).stdout));
  });

  it('msocket from python (ctypes syscall(-5, ...)): a socket of the stack at a path; SOCK_DEFAULT makes socket() use it, for children too; a NULL path goes back to the host', async () => {
    const program = `import ctypes, os, socket, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def msocket(path, domain, type_):
    r = libc.syscall(ctypes.c_long(-5), ctypes.c_char_p(path), ctypes.c_int(domain), ctypes.c_int(type_), ctypes.c_int(0))
    return r if r >= 0 else "error " + os.strerror(ctypes.get_errno())
def can_bind(s):
    try:
        s.bind(("10.250.6.1", 0))
        return "bound " + s.getsockname()[0]
    except OSError as e:
        return e.strerror
fd = msocket(b"/dev/net/m", socket.AF_INET, socket.SOCK_STREAM)
s = socket.socket(fileno=fd)
print("msocket:", s.family.name, s.type.name, can_bind(s))
print("socket():", can_bind(socket.socket()))
print("default:", msocket(b"/dev/net/m", 0, 0))
print("socket():", can_bind(socket.socket()))
sys.stdout.flush()
subprocess.run(["python3", "${py('bind.py')}", "10.250.6.1"])
print("null default:", msocket(None, 0, 0))
print("socket():", can_bind(socket.socket()))
print("not a stack:", msocket(b"/tmp", socket.AF_INET, socket.SOCK_STREAM))
print("missing:", msocket(b"/dev/net/none", socket.AF_INET, socket.SOCK_STREAM))`;
    fs.writeFileSync(py('msocket.py'), program);
    const r = await view(
      `vu_insmod vunet || exit 11; vumount -t vunetvdestack vde://${sw} /dev/net/m || exit 12
vustack /dev/net/m ip addr add 10.250.6.1/24 dev vde0 || exit 13
python3 ${py('msocket.py')}`,
    );
    assert.equal(r.status, 0, show(r));
    assert.equal(
      r.stdout,
      `msocket: AF_INET SOCK_STREAM bound 10.250.6.1
socket(): Cannot assign requested address
default: 0
socket(): bound 10.250.6.1
bind 10.250.6.1 ok
null default: 0
socket(): Cannot assign requested address
not a stack: error Operation not supported
missing: error No such file or directory
`,
      show(r),
    );
  });

  it('tear-down counts every socket of the stack: one made by accept() keeps it busy too', async () => {
    const dir = path.join(work, 'accepted');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'acc.py'),
      `import socket, subprocess
l = socket.socket(); l.bind(('127.0.0.1', 7777)); l.listen(1)
c = socket.create_connection(('127.0.0.1', 7777)); a, _ = l.accept(); l.close(); c.close()
print(subprocess.run(['vuumount', '/dev/net/acc'], capture_output=True, text=True).stderr.strip())
a.close()
print(subprocess.run(['vuumount', '/dev/net/acc']).returncode)
`,
    );
    const r = await view(`cd ${dir}; ${PRELUDE}
vu_insmod vunet || exit 11
vumount -t vunetvdestack vde://${sw} /dev/net/acc || exit 12
vustack /dev/net/acc python3 acc.py`);
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, 'vuumount: Device or resource busy\n0\n', show(r));
  });

  it('tear-down: vuumount is EBUSY while a socket of the stack is open, then succeeds and its holder goes; when umvu exits no holder survives and the switch frees the ports', async () => {
    const dir = path.join(work, 'teardown');
    fs.mkdirSync(dir);
    const before = switchPorts();
    const r = await view(
      `cd ${dir}; ${PRELUDE}
U=$(ps -o ppid= -p $PPID | tr -d ' ')
holders() { for p in $(ps -o pid= --ppid $U); do [ "$p" = "$PPID" ] || echo "$p $(cut -d' ' -f22 /proc/$p/stat)"; done; }
vu_insmod vunet || exit 11
vumount -t vunetvdestack vde://${sw} /dev/net/t1 || exit 12; holders > h1
vumount -t vunetvdestack -o veth vde://${sw} /dev/net/t2 || exit 12; holders > h12
echo "== umvu"; echo $U
echo "== holders"; cat h12
echo "== ports"; python3 ${py('mgmt.py')} ${mgmt}; echo
vustack /dev/net/t1 ip addr add 10.250.7.1/24 dev vde0
vustack /dev/net/t1 python3 ${py('hold.py')} 10.250.7.1 7002 listening go & P=$!
waitfor listening
echo "== busy"; vuumount /dev/net/t1 2>&1; echo "status $?"; stat -c %f /dev/net/t1
touch go; wait $P
echo "== umount"; vuumount /dev/net/t1 2>&1; echo "status $?"; ls /dev/net/t1 2>&1
H1=$(cut -d' ' -f1 h1)
for i in $(seq 100); do [ -e /proc/$H1 ] || break; sleep 0.05; done
echo "== holder 1"; [ -e /proc/$H1 ] && echo "still there" || echo gone
echo "== end"; holders`,
    );
    assert.equal(r.status, 0, show(r));
    const s = sections(r.stdout);
    const umvuPid = Number(s.umvu);
    assert.equal(umvuPid, r.pid, 'umvu is the parent of the reaper');
    const holders = s.holders.trim().split('\n').map((l) => l.split(' ').map(Number));
    assert.equal(holders.length, 2, `one holder per stack: ${s.holders}`);
    assert.equal(s.busy, 'vuumount: Device or resource busy\nstatus 1\ne1ff\n', show(r));
    assert.equal(s.umount, "status 0\nls: cannot access '/dev/net/t1': No such file or directory\n");
    assert.equal(s['holder 1'], 'gone\n');
    assert.equal(s.end.trim().split(' ')[0], String(holders[1][0]), 'the second stack\'s holder runs on');
    // during the view: two ports more, whose endpoints are this umvu's
    const during = switchPorts(s.ports);
    assert.equal(during.active, before.active + 2, s.ports);
    assert.equal(during.pids.filter((p) => p === umvuPid).length, 2, s.ports);
    // umvu has exited: none of its holders is left, nothing at all is a child of its pid
    for (const [pid, start] of holders) assert.notEqual(startTime(pid), String(start), `holder ${pid} survived umvu`);
    const orphans = run('ps', ['-eo', 'pid=,ppid=']).stdout.split('\n').filter((l) => l.trim().split(/\s+/)[1] === String(umvuPid));
    assert.deepEqual(orphans, [], `processes whose parent is umvu (${umvuPid})`);
    let after = switchPorts();
    for (let i = 0; i < 40 && after.pids.includes(umvuPid); i++) {
      await new Promise((res) => setTimeout(res, 50));
      after = switchPorts();
    }
    assert.deepEqual(after.pids.filter((p) => p === umvuPid), [], 'the switch still has ports of the ended view');
    assert.equal(after.active, before.active);
  });
});
