/**
 * Packaging: what users get from the published tarballs. The native addon is prebuilt for this
 * platform (prebuildify), the packages are packed, installed globally together from the
 * tarballs with a PATH that has no compiler, and the installed umvu must run a command in a view.
 *
 * The prebuild is made from a copy of native/ in a temp dir, by the package's own `prebuildify`
 * script, and then copied into native/prebuilds/: node-gyp rebuild starts by deleting build/,
 * which must not happen under the feet of whoever uses native/build in the tree meanwhile.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PLATFORM = `${process.platform}-${process.arch}`;
const PACKAGES = ['@vuos/native', '@vuos/core', '@vuos/vufs', '@vuos/cli'] as const;
type PackageName = (typeof PACKAGES)[number];
const WORKSPACE: Record<PackageName, string> = {
  '@vuos/native': 'native',
  '@vuos/core': 'packages/core',
  '@vuos/vufs': 'packages/vufs',
  '@vuos/cli': 'packages/cli',
};
/** What the compiler-free PATH holds: node, npm, a shell and what bin/umvu calls (readlink, dirname). */
const TOOLS = ['sh', 'readlink', 'dirname'];
const COMPILERS = ['gcc', 'g++', 'cc', 'c++', 'clang', 'clang++', 'make', 'python3', 'python'];

/** The environment without npm's own variables (set when run by `npm test`) nor compiler settings. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || /^(PATH|NODE_OPTIONS|CC|CXX|CPP|LINK|AR|MAKE|PYTHON|INIT_CWD)$/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeout?: number }) {
  const r = spawnSync(cmd, args, { ...opts, encoding: 'utf8', timeout: opts.timeout ?? 60_000 });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  assert.equal(r.status, 0, `${what} exited with ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Absolute path of a program on the test's own PATH. */
function which(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const f = path.join(dir, name);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      if (fs.statSync(f).isFile()) return f;
    } catch {
      /* not here */
    }
  }
  throw new Error(`${name} not found on PATH`);
}

/** The directory of the package `name` as Node resolves it from the package in `from`. */
function packageDir(from: string, name: string): string | undefined {
  const paths = createRequire(path.join(from, 'package.json')).resolve.paths(name) ?? [];
  return paths.map((d) => path.join(d, name)).find((d) => fs.existsSync(path.join(d, 'package.json')));
}

/** Relative paths (with their modes) of every file under dir. */
function listFiles(dir: string): Map<string, number> {
  const files = new Map<string, number>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else files.set(path.relative(dir, f), fs.lstatSync(f).mode);
    }
  };
  walk(dir);
  return files;
}

describe('packaging: the published tarballs give a working umvu without a compiler', function () {
  this.timeout(240_000);
  let tmp = '';
  const packs = () => path.join(tmp, 'packs');
  const unpacked = (name: PackageName) => path.join(tmp, 'unpacked', name.replace('/', '+'), 'package');
  const tarballs = new Map<PackageName, string>();
  let toolsDir = '';
  /** PATH holding node, npm, sh and the coreutils bin/umvu uses, and no compiler. */
  const barePath = () => toolsDir;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vuos-packaging-'));
    for (const d of ['packs', 'unpacked', 'cwd', 'tools']) fs.mkdirSync(path.join(tmp, d));
    toolsDir = path.join(tmp, 'tools');
    fs.symlinkSync(process.execPath, path.join(toolsDir, 'node'));
    for (const t of ['npm', ...TOOLS]) fs.symlinkSync(which(t), path.join(toolsDir, t));
  });

  after(() => {
    if (!tmp) return;
    // the prebuild copy links the monorepo's node_modules: unlink it first, never recurse into it
    fs.rmSync(path.join(tmp, 'native', 'node_modules'), { force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('builds the prebuilt addon for this platform (npm run prebuildify in native)', () => {
    const copy = path.join(tmp, 'native');
    const skip = new Set(['build', 'node_modules', 'prebuilds']);
    fs.cpSync(path.join(ROOT, 'native'), copy, {
      recursive: true,
      filter: (src) => !skip.has(path.relative(path.join(ROOT, 'native'), src).split(path.sep)[0]),
    });
    // the monorepo's dependencies (node-addon-api, prebuildify, node-gyp) and npm config (nodedir)
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
    if (fs.existsSync(path.join(ROOT, '.npmrc'))) fs.copyFileSync(path.join(ROOT, '.npmrc'), path.join(copy, '.npmrc'));
    ok(run('npm', ['run', 'prebuildify'], { cwd: copy, env: cleanEnv({ PATH: process.env.PATH ?? '' }), timeout: 180_000 }), 'npm run prebuildify');

    const built = path.join(copy, 'prebuilds', PLATFORM);
    const addons = fs.readdirSync(built).filter((f) => f.endsWith('.node'));
    assert.equal(addons.length, 1, `one addon in ${built}: ${addons.join(' ')}`);
    // install it in the tree for npm pack: a temp name then a rename, so no one sees half a file
    const dest = path.join(ROOT, 'native', 'prebuilds', PLATFORM);
    fs.mkdirSync(dest, { recursive: true });
    for (const old of fs.readdirSync(dest)) if (old.endsWith('.node') && old !== addons[0]) fs.rmSync(path.join(dest, old));
    fs.copyFileSync(path.join(built, addons[0]), path.join(dest, `${addons[0]}.tmp`));
    fs.renameSync(path.join(dest, `${addons[0]}.tmp`), path.join(dest, addons[0]));

    const file = path.join(dest, addons[0]);
    assert.ok(fs.statSync(file).size > 0);
    assert.deepEqual([...fs.readFileSync(file).subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'an ELF object');
    const mod = createRequire(import.meta.url)(file) as Record<string, unknown>;
    assert.equal(typeof mod.spawnView, 'function', 'the prebuild loads and exports spawnView');
  });

  it('packs the packages, each with what it needs and nothing it should not ship', () => {
    const ws = PACKAGES.flatMap((p) => ['--workspace', WORKSPACE[p]]);
    ok(
      run('npm', ['pack', ...ws, '--pack-destination', packs(), '--loglevel=warn'], {
        cwd: ROOT,
        env: cleanEnv({ PATH: process.env.PATH ?? '' }),
        timeout: 120_000,
      }),
      'npm pack',
    );
    for (const tgz of fs.readdirSync(packs()).filter((f) => f.endsWith('.tgz'))) {
      const dir = path.join(tmp, 'unpacked', tgz);
      fs.mkdirSync(dir);
      ok(run('tar', ['-xzf', path.join(packs(), tgz), '-C', dir], { cwd: tmp, env: process.env }), `tar -x ${tgz}`);
      const name = JSON.parse(fs.readFileSync(path.join(dir, 'package', 'package.json'), 'utf8')).name as PackageName;
      assert.ok(PACKAGES.includes(name), `unexpected tarball ${tgz} (${name})`);
      fs.renameSync(dir, path.dirname(unpacked(name)));
      tarballs.set(name, path.join(packs(), tgz));
    }
    assert.deepEqual([...tarballs.keys()].sort(), [...PACKAGES].sort(), 'one tarball per package');

    const problems: string[] = [];
    for (const name of PACKAGES) {
      const dir = unpacked(name);
      const files = listFiles(dir);
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      const need = (f: string, why: string) => {
        if (!files.has(path.normalize(f))) problems.push(`${name}: missing ${path.normalize(f)} (${why})`);
      };
      // never shipped: tests, TypeScript sources, build state, dependencies, editor/VCS files
      for (const f of files.keys()) {
        if (
          /(^|\/)(test|tests|__tests__|node_modules|build)\//.test(f) ||
          /\.test\.[cm]?[jt]s$/.test(f) ||
          (/\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f)) ||
          /(^|\/)tsconfig[^/]*\.json$|\.tsbuildinfo$|\.o$|(^|\/)\.(git|npmrc|mocharc)/.test(f)
        )
          problems.push(`${name}: should not ship ${f}`);
      }
      // what package.json points to
      if (pkg.main) need(pkg.main, 'main');
      if (pkg.types) need(pkg.types, 'types');
      const exportTargets = (e: unknown): string[] =>
        typeof e === 'string' ? [e] : e && typeof e === 'object' ? Object.values(e).flatMap(exportTargets) : [];
      for (const t of exportTargets(pkg.exports)) need(t, 'exports');
      for (const [bin, target] of Object.entries((pkg.bin ?? {}) as Record<string, string>)) {
        need(target, `bin ${bin}`);
        const f = path.join(dir, target);
        if (!fs.existsSync(f)) continue;
        if (!fs.readFileSync(f, 'utf8').startsWith('#!')) problems.push(`${name}: bin ${bin} (${target}) has no #! line`);
        if (target.startsWith('bin/') && !((files.get(path.normalize(target)) ?? 0) & 0o111))
          problems.push(`${name}: bin ${bin} (${target}) is not executable in the tarball`);
      }
      // workspace dependencies are pinned to the versions packed alongside
      for (const [dep, range] of Object.entries((pkg.dependencies ?? {}) as Record<string, string>)) {
        if (dep.startsWith('@vuos/')) {
          const v = JSON.parse(fs.readFileSync(path.join(unpacked(dep as PackageName), 'package.json'), 'utf8')).version;
          if (range !== v) problems.push(`${name}: depends on ${dep}@${range}, packed ${dep} is ${v}`);
        }
      }
      const has = (re: RegExp) => [...files.keys()].some((f) => re.test(f));
      if (name === '@vuos/native') {
        need('index.cjs', 'the loader');
        need('binding.gyp', 'a source build where no prebuild fits');
        if (!has(/^src\/.*\.cc$/)) problems.push(`${name}: no src/*.cc for a source build`);
        if (!has(new RegExp(`^prebuilds/${PLATFORM}/[^/]+\\.node$`))) problems.push(`${name}: no prebuilds/${PLATFORM}/*.node`);
      } else {
        if (!has(/^dist\/.*\.js$/)) problems.push(`${name}: no dist/*.js`);
        if (has(/^src\//)) problems.push(`${name}: ships src/`);
      }
      if (name === '@vuos/cli') need('bin/umvu', 'the umvu wrapper');
    }
    assert.deepEqual(problems, []);
  });

  for (const variant of [
    { title: 'with install scripts as npm runs them', args: [] as string[], prefix: 'scratch' },
    { title: 'with install scripts skipped (--ignore-scripts)', args: ['--ignore-scripts'], prefix: 'scratch-noscripts' },
  ]) {
    describe(`npm install -g of the tarballs, no compiler on PATH, ${variant.title}`, () => {
      const scratch = () => path.join(tmp, variant.prefix);
      const env = () => cleanEnv({ PATH: `${barePath()}:${path.join(scratch(), 'bin')}` });
      let installed = false;

      it('installs (dependencies from the registry, @vuos/* from the tarballs, addon from the prebuild)', () => {
        assert.equal(tarballs.size, PACKAGES.length, 'the packing step failed');
        const found = run('sh', ['-c', `for c in ${COMPILERS.join(' ')}; do command -v "$c"; done; true`], {
          cwd: path.join(tmp, 'cwd'),
          env: env(),
        });
        assert.equal(found.stdout.trim(), '', 'no compiler reachable on the bare PATH');

        // run from an empty dir: no workspace, no project .npmrc; the cli's @vuos/core@0.1.0 and the
        // core's @vuos/native@0.1.0 are satisfied by the tarballs installed in the same command
        const r = run(
          'npm',
          ['install', '-g', '--prefix', scratch(), '--no-audit', '--no-fund', '--foreground-scripts', '--loglevel=warn', ...variant.args, ...PACKAGES.map((p) => tarballs.get(p)!)],
          { cwd: path.join(tmp, 'cwd'), env: env(), timeout: 120_000 },
        );
        ok(r, 'npm install -g');

        const lib = path.join(scratch(), 'lib', 'node_modules');
        for (const p of PACKAGES) assert.ok(fs.existsSync(path.join(lib, p, 'package.json')), `${p} installed`);
        // each @vuos package is the one from the tarball, not a registry copy nested somewhere
        assert.equal(packageDir(path.join(lib, '@vuos/cli'), '@vuos/core'), path.join(lib, '@vuos/core'));
        assert.equal(packageDir(path.join(lib, '@vuos/core'), '@vuos/native'), path.join(lib, '@vuos/native'));
        // nothing was compiled, and the addon node-gyp-build picks at run time is the prebuild
        const native = path.join(lib, '@vuos/native');
        assert.ok(!fs.existsSync(path.join(native, 'build')), 'no build/ in the installed @vuos/native');
        const ngb = run('node', ['-p', `require(${JSON.stringify(createRequire(path.join(native, 'index.cjs')).resolve('node-gyp-build'))}).path(${JSON.stringify(native)})`], {
          cwd: path.join(tmp, 'cwd'),
          env: env(),
        });
        ok(ngb, 'node-gyp-build path');
        assert.match(ngb.stdout.trim(), new RegExp(`^${native.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/prebuilds/${PLATFORM}/[^/]+\\.node$`));
        assert.ok(fs.existsSync(path.join(scratch(), 'bin', 'umvu')), 'bin/umvu linked');
        installed = true;
      });

      it('runs a command in a view: umvu sh -c "echo inside; exit 7"', () => {
        assert.ok(installed, 'the install step failed');
        const r = run(path.join(scratch(), 'bin', 'umvu'), ['sh', '-c', 'echo inside; exit 7'], { cwd: path.join(tmp, 'cwd'), env: env(), timeout: 30_000 });
        assert.equal(r.stdout, 'inside\n', r.stderr);
        assert.equal(r.status, 7, r.stderr);
      });

      it('runs vu_lsmod inside umvu (exit 0) and refuses it outside (non-zero, "only inside")', function () {
        assert.ok(installed, 'the install step failed');
        const lsmod = path.join(scratch(), 'bin', 'vu_lsmod');
        if (!fs.existsSync(lsmod)) this.skip();
        const inside = run(path.join(scratch(), 'bin', 'umvu'), [lsmod], { cwd: path.join(tmp, 'cwd'), env: env(), timeout: 30_000 });
        assert.equal(inside.status, 0, `${inside.stdout}\n${inside.stderr}`);
        const outside = run(lsmod, [], { cwd: path.join(tmp, 'cwd'), env: env() });
        assert.notEqual(outside.status, 0);
        assert.match(outside.stderr, /only inside a vuos/i);
      });

      it('loads a bundled module by its short name: vu_insmod vufs', () => {
        assert.ok(installed, 'the install step failed');
        const r = run(path.join(scratch(), 'bin', 'umvu'), ['sh', '-c', 'vu_insmod vufs && vu_lsmod'], { cwd: path.join(tmp, 'cwd'), env: env(), timeout: 30_000 });
        assert.equal(r.stdout, 'vufs: vu filesystem patchworking\n', r.stderr);
      });
    });
  }
});
