import assert from 'node:assert/strict';
import { generateFilter, runFilter, FilterResult, VIRTUAL_FD_RANGE, syscallNumber } from '../src/index.js';

describe('seccomp filter generated from the syscall table', () => {
  const prog = generateFilter();
  const run = (name: string | number, args: number[] = [], arch?: number) =>
    runFilter(prog, { nr: typeof name === 'number' ? name : syscallNumber(name), args, arch });

  it('fits the kernel limit', () => {
    assert.ok(prog.length < 4096);
  });
  it('allows calls that can never be virtual', () => {
    for (const n of ['getpid', 'futex', 'brk', 'rt_sigreturn', 'exit_group', 'getppid', 'nanosleep'])
      assert.equal(run(n), FilterResult.allow, n);
  });
  it('allows clone and fork: a notified call may fail with EINTR, and fork must not', () => {
    for (const n of ['clone', 'clone3', 'fork', 'vfork'])
      assert.equal(run(n), FilterResult.allow, n);
  });
  it('notifies path calls, exec and mount', () => {
    for (const n of ['openat', 'newfstatat', 'execve', 'mount', 'umount2', 'chdir', 'getcwd', 'statx'])
      assert.equal(run(n), FilterResult.notify, n);
  });
  it('notifies fd calls only for fds in the virtual range', () => {
    const { low, high } = VIRTUAL_FD_RANGE;
    assert.equal(run('read', [3]), FilterResult.allow);
    assert.equal(run('read', [low]), FilterResult.notify);
    assert.equal(run('read', [high]), FilterResult.notify);
    assert.equal(run('read', [high + 1]), FilterResult.allow);
    assert.equal(run('read', [0xffffffff]), FilterResult.allow, 'fd -1');
    assert.equal(run('dup2', [3, low]), FilterResult.notify, 'dup2 onto a virtual fd number');
    assert.equal(run('dup2', [low, 1]), FilterResult.notify, 'dup2 of a virtual fd');
    assert.equal(run('mmap', [0, 4096, 1, 2, 5]), FilterResult.allow);
    assert.equal(run('mmap', [0, 4096, 1, 2, low]), FilterResult.notify);
  });
  it('with --stdio-devices, notifies the fd calls on fds 0-2 too (a device dup2ed there)', () => {
    const stdio = generateFilter({ stdioDevices: true });
    const runStdio = (name: string, args: number[]) => runFilter(stdio, { nr: syscallNumber(name), args });
    for (const n of ['read', 'write', 'pread64', 'writev', 'lseek', 'ioctl', 'fsync', 'dup', 'fcntl', 'close', 'sendfile', 'shutdown']) {
      for (const fd of [0, 1, 2]) {
        assert.equal(runStdio(n, [fd]), FilterResult.notify, `${n}(${fd})`);
        assert.equal(run(n, [fd]), FilterResult.allow, `${n}(${fd}) without --stdio-devices`);
      }
      assert.equal(runStdio(n, [3, 3, 3, 3, 3]), FilterResult.allow, `${n}(3)`);
      assert.equal(runStdio(n, [VIRTUAL_FD_RANGE.low]), FilterResult.notify, `${n}(low)`);
    }
    assert.equal(runStdio('sendfile', [5, 1]), FilterResult.notify, 'sendfile from fd 1');
    assert.equal(runStdio('mmap', [0, 4096, 1, 2, 1]), FilterResult.notify, 'mmap of fd 1');
    assert.equal(runStdio('mmap', [0, 4096, 1, 2, 0xffffffff]), FilterResult.allow, 'anonymous mmap');
  });
  it('notifies the VUOS virtual syscalls -1..-5', () => {
    for (let nr = -1; nr >= -5; nr--) assert.equal(run(nr), FilterResult.notify, String(nr));
    assert.equal(run(-6), FilterResult.enosys);
  });
  it('refuses io_uring, x32 and foreign architectures', () => {
    assert.equal(run('io_uring_setup'), FilterResult.enosys);
    assert.equal(run(0x40000000 + 1), FilterResult.enosys);
    assert.equal(run('getpid', [], 0x40000003 /* AUDIT_ARCH_I386 */), FilterResult.enosys);
  });
  it('notifies numbers newer than the table', () => {
    assert.equal(run(600), FilterResult.notify);
  });
  it('notifies everything but io_uring in notifyAll mode', () => {
    const all = generateFilter({ notifyAll: true });
    assert.equal(runFilter(all, { nr: syscallNumber('getpid') }), FilterResult.notify);
    assert.equal(runFilter(all, { nr: syscallNumber('io_uring_setup') }), FilterResult.enosys);
  });
});
