/**
 * vudebug: umvu's debug tags. `+TAGS` enables, `-TAGS` disables, `?TAGS` lists (empty TAGS
 * means all tags); `:SPEC` after the tags sets their color (every debarg resets the color of
 * its tags to its spec, or none). With `-- command`, the tags change for that command only
 * (the local, inherited mask of this process, which then execs the command).
 */
import {
  addDebugTags,
  delDebugTags,
  execvp,
  getDebugTagName,
  getDebugTags,
  setDebugColor,
  TAG_CHARS,
} from '@vuos/core/vulib';
import { perror, requireView, usageExit } from '../cmdlib.js';

const USAGE = `Usage: vudebug [+TAGS[:COLOR] | -TAGS | ?TAGS | TAGS:COLOR]... [-- command [args]]
Show or change umvu's debug tags (lowercase: core, uppercase: modules).
  vudebug                 print the enabled tags (local ones in parentheses)
  +TAGS / -TAGS           enable / disable tags (no TAGS: all)
  ?TAGS                   list tags with their state and names (no TAGS: enabled or named ones)
  TAGS:COLOR              set colors: n w r g b c m y (uppercase: background),
                          + bright, - dim, _ underline, * blink, # reverse
  -- command [args]       change the tags for command (and its children) only
Examples: vudebug +p;  vudebug ?ps;  vudebug -;  vudebug +s:r +p:b+ -- bash
`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) usageExit(USAGE, 0);
requireView(USAGE);

const sep = args.indexOf('--');
const debargs = sep < 0 ? args : args.slice(0, sep);
const command = sep < 0 ? [] : args.slice(sep + 1);
if (sep >= 0 && command.length === 0) usageExit(USAGE, 2);
const local = command.length > 0;

function tagsOf(text: string): string {
  return text === '' ? TAG_CHARS : text;
}

function list(requested: string): void {
  const global = getDebugTags(false);
  const mine = getDebugTags(true);
  let out = '';
  for (let code = 32; code < 128; code++) {
    const c = String.fromCharCode(code);
    if (!TAG_CHARS.includes(c)) continue;
    const name = getDebugTagName(c);
    const show = requested ? requested.includes(c) : global.includes(c) || mine.includes(c) || name !== '';
    if (!show) continue;
    out += `${c} ${global.includes(c) ? '+' : '-'}${mine.includes(c) ? '(+)' : '   '}${name}\n`;
  }
  process.stdout.write(out);
}

try {
  if (debargs.length === 0 && !local) {
    const global = getDebugTags(false);
    const mine = getDebugTags(true);
    process.stdout.write(`${global}${mine ? ` (${mine})` : ''}\n`);
  }
  for (const arg of debargs) {
    const op = '+-?'.includes(arg[0]) ? arg[0] : '';
    const body = op ? arg.slice(1) : arg;
    const colon = body.indexOf(':');
    const tags = colon < 0 ? body : body.slice(0, colon);
    const color = colon < 0 ? '' : body.slice(colon + 1);
    if (op === '' && colon < 0) usageExit(USAGE, 2);
    if ([...tags].some((c) => !TAG_CHARS.includes(c))) {
      process.stderr.write(`vudebug: invalid tag in '${arg}'\n`);
      process.exit(2);
    }
    if (op === '?') {
      list(tags);
      continue;
    }
    setDebugColor(`${tagsOf(tags)}:${color}`);
    if (op === '+') addDebugTags(tags, local);
    if (op === '-') delDebugTags(tags, local);
  }
} catch (e) {
  perror('vudebug', e);
  process.exit(1);
}

if (local) {
  const err = execvp(command[0], command);
  perror(command[0], err);
  process.exit(err.errno === 2 ? 127 : 126);
}
