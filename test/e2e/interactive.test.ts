/**
 * Interactive use on a terminal (tmux): `umvu bash --norc -i` must behave as bash does natively:
 * line editing and output, Ctrl-C of a foreground job ($? = 130), Ctrl-Z / fg job control, and
 * `exit` ending the view. The same scenario runs natively first, as the reference that proves
 * the test itself.
 */
import assert from 'node:assert/strict';
import { BASE_PATH, UMVU, shellQuote } from '../helpers/compare.js';
import { Terminal, findProcesses, processState, until } from '../helpers/tmux.js';

const PROMPT = 'vuos-test$ ';
const prompts = (screen: string) => screen.split('\n').filter((l) => l.startsWith(PROMPT)).length;
/** sleep durations unique to this run, so that the processes can be found by their argv */
let nextSleep = 100_000 + (process.pid % 50_000) * 20;
const uniqueSleep = () => String(nextSleep++);

function bashCommand(underUmvu: boolean, shell = '/bin/bash --norc --noprofile -i'): string {
  const env = ['env', '-i', `PATH=${BASE_PATH}`, `HOME=${process.env.HOME ?? '/'}`, 'TERM=screen', `PS1=${PROMPT}`, 'LC_ALL=C'];
  return `exec ${shellQuote(env)} ${underUmvu ? `${shellQuote([UMVU])} ` : ''}${shell}`;
}

describe('interactive bash on a terminal (tmux)', function () {
  this.timeout(60_000);
  const terminals: Terminal[] = [];
  const leftover: string[] = [];
  after(() => {
    for (const t of terminals) t.kill();
    for (const s of leftover) for (const pid of findProcesses(['sleep', s])) process.kill(pid, 'SIGKILL');
  });

  async function scenario(underUmvu: boolean): Promise<void> {
    const t = new Terminal(underUmvu ? 'umvu' : 'native');
    terminals.push(t);
    t.start(bashCommand(underUmvu));
    await t.waitFor('the first prompt', (s) => prompts(s) >= 1);
    const pane = t.panePid();
    assert.ok(pane > 0, 'pane pid');

    t.line('echo ready-$((6*7))');
    await t.waitFor('ready-42', (s) => /^ready-42$/m.test(s) && prompts(s) >= 2);

    t.line('grep ^Seccomp: /proc/self/status');
    await t.waitFor('the Seccomp line', (s) => new RegExp(`^Seccomp:\\s+${underUmvu ? 2 : 0}$`, 'm').test(s) && prompts(s) >= 3);

    // Ctrl-C of a foreground job
    const s1 = uniqueSleep();
    leftover.push(s1);
    t.line(`sleep ${s1}`);
    await until(`sleep ${s1} to start`, () => findProcesses(['sleep', s1]).length === 1);
    t.keys('C-c');
    await until(`sleep ${s1} to die of SIGINT`, () => findProcesses(['sleep', s1]).length === 0);
    await t.waitFor('the prompt after Ctrl-C', (s) => prompts(s) >= 4);
    t.line('echo status=$?');
    await t.waitFor('status=130', (s) => /^status=130$/m.test(s) && prompts(s) >= 5);

    // Ctrl-Z, fg, Ctrl-C
    const s2 = uniqueSleep();
    leftover.push(s2);
    t.line(`sleep ${s2}`);
    await until(`sleep ${s2} to start`, () => findProcesses(['sleep', s2]).length === 1);
    const [pid] = findProcesses(['sleep', s2]);
    t.keys('C-z');
    const stopped = await t.waitFor('bash to report the job stopped', (s) => new RegExp(`^\\[1\\]\\+\\s+Stopped\\s+sleep ${s2}$`, 'm').test(s) && prompts(s) >= 6);
    assert.equal(processState(pid), 'T', `sleep should be stopped; screen:\n${stopped}`);
    t.line('jobs');
    await t.waitFor('jobs to list it', (s) => new RegExp(`^\\[1\\]\\+\\s+Stopped\\s+sleep ${s2}$`, 'm').test(s.split(`${PROMPT}jobs`)[1] ?? '') && prompts(s) >= 7);
    t.line('fg');
    await until(`sleep ${s2} to run again`, () => ['S', 'R'].includes(processState(pid) ?? ''));
    await t.waitFor('fg to print the command', (s) => new RegExp(`^${PROMPT.replace('$', '\\$')}fg\\nsleep ${s2}$`, 'm').test(s));
    t.keys('C-c');
    await until(`sleep ${s2} to die of SIGINT`, () => processState(pid) === undefined);
    await t.waitFor('the prompt after fg + Ctrl-C', (s) => prompts(s) >= 8);
    t.line('echo status2=$?');
    await t.waitFor('status2=130', (s) => /^status2=130$/m.test(s) && prompts(s) >= 9);

    // a background job and kill %1
    const s3 = uniqueSleep();
    leftover.push(s3);
    t.line(`sleep ${s3} &`);
    await until(`sleep ${s3} to start`, () => findProcesses(['sleep', s3]).length === 1);
    t.line('kill %1; wait %1; echo status3=$?');
    await t.waitFor('status3=143', (s) => /^status3=143$/m.test(s));
    assert.equal(findProcesses(['sleep', s3]).length, 0);

    t.line('exit');
    await until('the terminal session to end', () => !t.alive(), 20_000);
    await until(`the pane process ${pane} (${underUmvu ? 'umvu' : 'bash'}) to be gone`, () => processState(pane) === undefined || processState(pane) === 'Z');
    for (const s of [s1, s2, s3]) assert.deepEqual(findProcesses(['sleep', s]), [], `sleep ${s} left behind`);
  }

  it('natively (reference run of the scenario)', async () => {
    await scenario(false);
  });
  it('under umvu: echo, Ctrl-C ($? 130), Ctrl-Z + jobs + fg + Ctrl-C, kill %1, exit ends umvu', async () => {
    await scenario(true);
  });

  /**
   * An outer interactive shell (not under umvu) runs `umvu sleep` in a loop. Ctrl-C kills the
   * command; natively bash sees a child killed by SIGINT and abandons the whole loop. If umvu
   * only exits with status 130 instead, bash goes on with the next iteration.
   */
  async function loopScenario(underUmvu: boolean): Promise<void> {
    const t = new Terminal(underUmvu ? 'loop-umvu' : 'loop-native');
    terminals.push(t);
    t.start(bashCommand(false));
    await t.waitFor('the first prompt', (s) => prompts(s) >= 1);
    const s = uniqueSleep();
    leftover.push(s);
    t.line(`for i in 1 2 3; do ${underUmvu ? `${shellQuote([UMVU])} ` : ''}sleep ${s}; done; echo loop-finished`);
    await until(`sleep ${s} to start`, () => findProcesses(['sleep', s]).length === 1);
    const [first] = findProcesses(['sleep', s]);
    t.keys('C-c');
    await until(`sleep ${s} to die`, () => processState(first) === undefined);
    // either the prompt comes back (loop abandoned) or another iteration starts
    let next: number[] = [];
    const screen = await t.waitFor('the prompt, or the next iteration', (sc) => {
      next = findProcesses(['sleep', s]);
      return prompts(sc) >= 2 || next.length > 0;
    });
    if (next.length) t.keys('C-c', 'C-c', 'C-c');
    assert.deepEqual(next, [], `Ctrl-C did not abandon the loop: the next iteration started\n${screen}`);
    assert.ok(!screen.includes('\nloop-finished'), `the commands after the loop ran:\n${screen}`);
    t.line('exit');
    await until('the session to end', () => !t.alive());
  }

  it('natively: Ctrl-C abandons a shell loop of commands (reference)', async () => {
    await loopScenario(false);
  });
  it('under umvu: Ctrl-C abandons an outer shell loop of `umvu sleep` commands, as natively', async () => {
    await loopScenario(true);
  });
});
