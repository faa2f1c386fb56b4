/**
 * Logging as VUOS does it: kernel-style levels (printk) and debug tags.
 *
 * Debug tags are single characters: lowercase for the core, uppercase for modules. A debug line
 * is printed when its tag is enabled globally or locally for the calling process:
 *   `<traced tid>:<hypervisor tid> <TAGNAME> <file>:<line> <message>`
 * Colors follow the VUOS spec (`n w r g b c m y` foreground, uppercase background, `+` bright,
 * `-` dim, `_` underline, `*` blink, `#` reverse) and are used only when the output is a tty.
 */
import fs from 'node:fs';
import tty from 'node:tty';
import { native } from './native.js';

import { TAG_CHARS } from './vulib.js';

export { TAG_CHARS };

export const LogLevel = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;

const CORE_TAG_NAMES: Record<string, string> = {
  a: 'ACTION',
  c: 'CHOICE',
  d: 'FD_TABLE',
  f: 'FILETABLE',
  m: 'MODULE',
  n: 'NESTED',
  p: 'PATH',
  s: 'SYSCALL',
  t: 'THREADS',
  v: 'VNODE',
};

const SGR_COLORS = 'nrgybmcw'; // black red green yellow blue magenta cyan white: ANSI order

/** Parses a VUOS color spec ("r", "g#", "B+_") into an SGR parameter list; null when invalid. */
export function parseColorSpec(spec: string): string | null {
  const params: string[] = [];
  for (const ch of spec) {
    const fg = SGR_COLORS.indexOf(ch);
    const bg = SGR_COLORS.indexOf(ch.toLowerCase());
    if (fg >= 0) params.push(String(30 + fg));
    else if (bg >= 0 && ch !== ch.toLowerCase()) params.push(String(40 + bg));
    else if (ch === '+') params.push('1');
    else if (ch === '-') params.push('2');
    else if (ch === '_') params.push('4');
    else if (ch === '*') params.push('5');
    else if (ch === '#') params.push('7');
    else return null;
  }
  return params.join(';');
}

/** Expands a tag list; the empty list means every tag. Unknown characters are ignored. */
export function expandTags(tags: string): string {
  if (tags === '') return TAG_CHARS;
  return [...new Set(tags)].filter((c) => TAG_CHARS.includes(c)).join('');
}

export class Logger {
  consoleLevel: number = LogLevel.warning;
  syslogLevel = -1;
  private out: number = 2;
  private isTty = tty.isatty(2);
  private globalTags = new Set<string>();
  private names = new Map<string, string>(Object.entries(CORE_TAG_NAMES));
  private colors = new Map<string, string>();
  private syslogFd = -1;

  setOutputFile(path: string): void {
    this.out = fs.openSync(path, 'w', 0o666);
    this.isTty = tty.isatty(this.out);
  }

  printk(level: number, message: string): void {
    if (level <= this.consoleLevel) this.write(message.endsWith('\n') ? message : message + '\n');
    if (level <= this.syslogLevel) this.syslog(level, message);
  }

  // ---- debug tags ----
  tagName(tag: string): string | undefined {
    return this.names.get(tag);
  }
  setTagName(tag: string, name: string): void {
    if (!TAG_CHARS.includes(tag) || tag.length !== 1) throw new Error(`invalid debug tag '${tag}'`);
    this.names.set(tag, name);
  }
  globalTagString(): string {
    return [...TAG_CHARS].filter((c) => this.globalTags.has(c)).join('');
  }
  addGlobalTags(tags: string): void {
    for (const c of expandTags(tags)) this.globalTags.add(c);
    this.onTagsChanged();
  }
  delGlobalTags(tags: string): void {
    for (const c of expandTags(tags)) this.globalTags.delete(c);
    this.onTagsChanged();
  }
  isGlobal(tag: string): boolean {
    return this.globalTags.has(tag);
  }
  /** Called when the global tags change (the hypervisor recomputes its fast path). */
  onTagsChanged: () => void = () => {};

  /** Applies a color spec list: space-separated `tags:spec` items; an empty spec removes the color. */
  setColors(specList: string): boolean {
    for (const item of specList.split(/\s+/).filter(Boolean)) {
      const colon = item.indexOf(':');
      const tags = colon < 0 ? item : item.slice(0, colon);
      const spec = colon < 0 ? '' : item.slice(colon + 1);
      const sgr = parseColorSpec(spec);
      if (sgr === null) return false;
      for (const c of expandTags(tags)) {
        if (sgr) this.colors.set(c, sgr);
        else this.colors.delete(c);
      }
    }
    return true;
  }

  /** Writes a debug line for `tag` on behalf of traced thread `tid`. */
  debug(tag: string, tid: number, message: string, callerDepth = 2): void {
    const where = callerLocation(callerDepth + 1);
    let line = `${tid}:${process.pid} ${this.names.get(tag) ?? tag} ${where} ${message}`;
    const sgr = this.colors.get(tag);
    if (sgr && this.isTty) line = `\x1b[${sgr}m${line}\x1b[0m`;
    this.write(line + '\n');
  }

  private write(text: string): void {
    try {
      fs.writeSync(this.out, text);
    } catch {
      // a closed or full log output must never take the hypervisor down
    }
  }

  // syslog(3) datagrams to /dev/log, facility user: "<pri>umvu[pid]: message"
  private syslog(level: number, message: string): void {
    const AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000, SYS_socket = 41, SYS_sendto = 44;
    if (this.syslogFd < 0) this.syslogFd = native.syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (this.syslogFd < 0) return;
    const addr = Buffer.alloc(110);
    addr.writeUInt16LE(AF_UNIX, 0);
    addr.write('/dev/log', 2);
    const text = Buffer.from(`<${8 + level}>umvu[${process.pid}]: ${message.trimEnd()}`);
    native.syscall(SYS_sendto, this.syslogFd, text, text.length, 0, addr, 2 + '/dev/log'.length + 1);
  }
}

function callerLocation(depth: number): string {
  const stack = new Error().stack?.split('\n')[depth + 1] ?? '';
  const m = /([^/\s(]+):(\d+):\d+\)?$/.exec(stack);
  return m ? `${m[1]}:${m[2]}` : '?:0';
}
