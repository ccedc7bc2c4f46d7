/**
 * Compiles the runner to one JavaScript file with esbuild. The Dockerfile's build stage runs this, and the
 * runner tests run the very same bundle as a child process. Usage: `npx tsx runner-image/build.ts <outfile>`.
 */
import { buildSync, type BuildOptions } from 'esbuild';
import { join } from 'node:path';

export const RUNNER_ENTRY = join(__dirname, 'src', 'runner.main.ts');

export const RUNNER_BUILD_OPTIONS: BuildOptions = {
  entryPoints: [RUNNER_ENTRY],
  bundle: true,
  platform: 'node',
  // Node 22 in the image; 20 is the oldest Node the tests run the bundle on.
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'error',
};

export function buildRunner(outfile: string): void {
  buildSync({ ...RUNNER_BUILD_OPTIONS, outfile });
}

if (require.main === module) {
  const outfile = process.argv[2] ?? join(__dirname, 'dist', 'runner.js');
  buildRunner(outfile);
  process.stdout.write(`${outfile}\n`);
}
