/**
 * Helper processes of modules (api.spawn): started by the view's spawner, they run inside the
 * view, are no children of the user's command, and are ended when the view ends, after the
 * modules' viewEnd hooks. The fixture module vuhelper starts the helpers a JSON spec lists.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE_PATH, bash, removeDir, runUmvu, scratchDir, unprivilegedUser, type TestUser } from '../../../test/helpers/compare.js';
import { BIN, ROOT } from './run.js';

const FIXTURE = path.join(ROOT, 'packages/cli/test/fixtures/vuhelper.js');

interface HelperSpec {
  name: string;
  argv: string[];
  cwd?: string;
  wait?: boolean;
}

/**
 * A scratch directory with src/x ("hello") to bind at mnt/; runs `script` in a view after
 * `vumount -t vuhelper` started the helpers. Returns the run and the fixture's log.
 */
async function withHelpers(helpers: (dir: string) => HelperSpec[], script: string, user?: TestUser) {
  const dir = scratchDir('spawn', user);
  try {
    fs.mkdirSync(path.join(dir, 'src'));
    fs.mkdirSync(path.join(dir, 'mnt'));
    fs.writeFileSync(path.join(dir, 'src/x'), 'hello\n');
    const spec = path.join(dir, 'spec.json');
    fs.writeFileSync(spec, JSON.stringify(helpers(dir)));
    const mount = `vu_insmod ${FIXTURE} && vumount -t vuhelper -o spec=${spec} ${dir}/src ${dir}/mnt`;
    const r = await runUmvu(bash(`${mount} || exit 99; ${script}`), { umvuArgs: ['-N'], cwd: dir, user, env: { PATH: `${BIN}:${BASE_PATH}` } });
    const log = fs.existsSync(`${spec}.log`) ? fs.readFileSync(`${spec}.log`, 'utf8') : '';
    return { r, log, dir };
  } finally {
    removeDir(dir);
  }
}

/** A helper that sees the mount (native processes do not) and exits with status 3. */
const catHelper = (dir: string): HelperSpec => ({ name: 'cat', argv: ['sh', '-c', `cat ${dir}/mnt/x > ${dir}/out; exit 3`], wait: true });

describe('helper processes of modules (api.spawn)', function () {
  this.timeout(60_000);

  it('a helper runs inside the view: it sees the view\'s mount; its exit status is reported', async () => {
    const { r, log, dir } = await withHelpers((d) => [catHelper(d)], 'cat $PWD/out; test -e $PWD/mnt/x && echo in-view');
    assert.equal(r.stdout, 'hello\nin-view\n', JSON.stringify(r));
    assert.equal(r.status, 0);
    assert.equal(log, `cat started\ncat exited ${3 << 8}\nviewEnd: 0 running\n`);
    assert.ok(!fs.existsSync(path.join(dir, 'mnt/x')), 'natively the mount is not there');
  });

  it('a program that cannot run: the spawn fails with its errno (ENOENT, EACCES)', async () => {
    const { r, log } = await withHelpers(
      (d) => [
        { name: 'missing', argv: ['no-such-program-umvu'] },
        { name: 'missing-path', argv: ['/nonexistent/prog'] },
        { name: 'not-executable', argv: [`${d}/src/x`] },
        { name: 'bad-cwd', argv: ['true'], cwd: '/nonexistent' },
        { name: 'fine', argv: ['true'], wait: true },
      ],
      'true',
    );
    assert.equal(r.status, 0, JSON.stringify(r));
    assert.equal(log, 'missing failed 2\nmissing-path failed 2\nnot-executable failed 13\nbad-cwd failed 2\nfine started\nfine exited 0\nviewEnd: 0 running\n');
  });

  it('the spawner is no child of the command: wait returns at once; ps shows it under the reaper', async () => {
    const { r, log } = await withHelpers(
      () => [{ name: 'sleeper', argv: ['sleep', '1000'] }],
      'sleep 0.1 & wait; echo waited; echo "me $$ $PPID"; ps -eo pid=,ppid=,comm=',
    );
    assert.equal(r.status, 0, JSON.stringify(r));
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'waited');
    const [, me, reaper] = lines[1].split(' ').map(Number);
    const procs = lines.slice(2).filter(Boolean).map((l) => l.trim().split(/\s+/));
    // (other views on the machine have spawners too: this view's has the reaper or bash as parent)
    const spawner = procs.find((p) => p[2] === 'umvu-spawner' && [reaper, me].includes(Number(p[1])));
    assert.ok(spawner, r.stdout);
    assert.equal(Number(spawner[1]), reaper, 'the spawner is a child of the reaper');
    assert.notEqual(Number(spawner[1]), me);
    assert.ok(procs.some((p) => p[2] === 'sleep' && p[1] === spawner[0]), 'the helper is the spawner\'s child');
    assert.equal(log, 'sleeper started\nviewEnd: 1 running\nsleeper exited 15\n');
  });

  it('the view ends promptly when the command exits: viewEnd first, then SIGTERM to running helpers', async () => {
    const { r, log } = await withHelpers(() => [{ name: 'sleeper', argv: ['sleep', '1000'] }], 'exit 4');
    assert.equal(r.status, 4, JSON.stringify(r));
    assert.ok(r.ms < 4000, `took ${r.ms} ms`);
    assert.equal(log, 'sleeper started\nviewEnd: 1 running\nsleeper exited 15\n');
  });

  it('a helper group that ignores SIGTERM gets SIGKILL 5 s later', async () => {
    const { r, log } = await withHelpers(() => [{ name: 'stubborn', argv: ['sh', '-c', 'trap "" TERM; sleep 1000; :'] }], 'true');
    assert.equal(r.status, 0, JSON.stringify(r));
    assert.ok(r.ms >= 5000 && r.ms < 9000, `took ${r.ms} ms`);
    // (its end is not reported: the spawner has left)
    assert.equal(log, 'stubborn started\nviewEnd: 1 running\n');
  });

  it('works as an unprivileged user', async () => {
    const user = unprivilegedUser();
    const { r, log } = await withHelpers((d) => [catHelper(d), { name: 'sleeper', argv: ['sleep', '1000'] }], 'cat $PWD/out; id -u', user);
    assert.equal(r.stdout, `hello\n${user.uid}\n`, JSON.stringify(r));
    assert.ok(r.ms < 4000, `took ${r.ms} ms`);
    assert.equal(log, `cat started\ncat exited ${3 << 8}\nsleeper started\nviewEnd: 1 running\nsleeper exited 15\n`);
  });
});
