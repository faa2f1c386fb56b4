// Bundles umvu and the commands (with @vuos/core) into dist/bundle: one file each plus shared
// chunks, so that starting them costs one module load instead of a few dozen resolutions.
import { build } from 'esbuild';
import fs from 'node:fs';

const commands = fs.readdirSync(new URL('./dist/commands/', import.meta.url)).filter((f) => f.endsWith('.js'));
await build({
  entryPoints: ['dist/umvu.js', ...commands.map((f) => `dist/commands/${f}`)],
  absWorkingDir: new URL('.', import.meta.url).pathname,
  outdir: 'dist/bundle',
  entryNames: '[name]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@vuos/native'],
  logLevel: 'warning',
});
