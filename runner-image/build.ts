/**
 * Compiles the runner with esbuild: `runner.js`, the entrypoint (boot.ts), and beside it `runner-main.js`, the runner
 * bundled to one file, with V8's code cache for it made by the Node that builds it (the image's own Node in the
 * Dockerfile's build stage, the test's Node in local mode). The Dockerfile's build stage runs this, and the runner tests
 * and local mode run the very same files as a child process. Usage: `npx tsx runner-image/build.ts <outfile>`.
 */
import { buildSync, type BuildOptions } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { RUNNER_MAIN_FILE } from './src/boot';

export const RUNNER_ENTRY = join(__dirname, 'src', 'runner.main.ts');
const BOOT_ENTRY = join(__dirname, 'src', 'boot.ts');

export const RUNNER_BUILD_OPTIONS: BuildOptions = {
  entryPoints: [RUNNER_ENTRY],
  bundle: true,
  platform: 'node',
  // Node 22 in the image; 20 is the oldest Node the tests run the bundle on.
  target: 'node20',
  format: 'cjs',
  // Every task start reads the bundle: minified, it is 1.8 MB instead of 3.7, and loads about 10 ms sooner on the
  // bench machine. Class names stay (keepNames): errors are told apart by name. (The SDK's ES module builds would
  // save more, but they load credential providers with import(), which a bundle run from vm.Script cannot do.)
  minify: true,
  keepNames: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'error',
};

/** Writes `outfile` (the entrypoint), the bundle beside it, and the bundle's code cache. */
export function buildRunner(outfile: string): void {
  buildSync({ ...RUNNER_BUILD_OPTIONS, outfile: join(dirname(outfile), RUNNER_MAIN_FILE) });
  buildSync({ ...RUNNER_BUILD_OPTIONS, entryPoints: [BOOT_ENTRY], sourcemap: false, outfile });
  execFileSync(process.execPath, [outfile, '--write-code-cache'], { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: process.env.PATH ?? '' } });
}

if (require.main === module) {
  const outfile = process.argv[2] ?? join(__dirname, 'dist', 'runner.js');
  buildRunner(outfile);
  process.stdout.write(`${outfile}\n`);
}
