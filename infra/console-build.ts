/**
 * Builds the web console (`console/`, React + Vite) when its build is missing or stale, for local mode (which serves it
 * at `/`) and for the CDK app (which uploads it to the console bucket). A build lives in `console/dist/<hash>/`, the
 * hash taken over every input file's path and content, so a build is reused exactly while its sources are unchanged
 * and concurrent callers (jest workers, `npm run local` beside a synth) never see a half-written one.
 *
 * `npm run console:build` runs it from the command line and prints the folder.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export const CONSOLE_DIR = join(__dirname, '..', 'console');
const VITE = join(__dirname, '..', 'node_modules', 'vite', 'bin', 'vite.js');
const LOCKFILE = join(__dirname, '..', 'package-lock.json');
/** What a build reads besides `src/`: a change to any of them makes a new build. */
const INPUT_FILES = ['index.html', 'vite.config.ts', 'tsconfig.json', 'package.json'];
const INPUT_DIRS = ['src', 'public'];
const BUILD_SETTINGS = 'NODE_ENV=production';

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !/\.test\.tsx?$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The hash of every input the build reads (tests excluded), plus the lockfile's, which pins React and Vite. */
export function consoleSourceHash(consoleDir = CONSOLE_DIR): string {
  // The build's own settings count too (production, below): a build made under other settings is never reused.
  const hash = createHash('sha256').update(`${BUILD_SETTINGS}\0`);
  const files = [...INPUT_FILES.map((f) => join(consoleDir, f)), ...INPUT_DIRS.flatMap((d) => filesUnder(join(consoleDir, d))), LOCKFILE];
  for (const file of files.filter((f) => existsSync(f))) {
    hash.update(relative(consoleDir, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

export interface ConsoleBuild {
  /** The folder holding index.html and assets/. */
  dir: string;
  /** Whether this call built it (false: an up-to-date build was reused). */
  built: boolean;
}

/** The console's build for the current sources, building it first when there is none. Throws with Vite's output on failure. */
export function ensureConsoleBuilt(log: (line: string) => void = () => undefined, consoleDir = CONSOLE_DIR): ConsoleBuild {
  const distDir = join(consoleDir, 'dist');
  const dir = join(distDir, consoleSourceHash(consoleDir));
  if (existsSync(join(dir, 'index.html'))) return { dir, built: false };
  log('building the web console (console/ changed or was never built)');
  const tmp = join(distDir, `.tmp-${process.pid}-${Date.now()}`);
  const run = spawnSync(
    process.execPath,
    [VITE, 'build', '--config', join(consoleDir, 'vite.config.ts'), '--outDir', tmp, '--emptyOutDir', '--logLevel', 'warn'],
    {
      cwd: consoleDir,
      encoding: 'utf8',
      // Always the production build, whoever asks: under jest (NODE_ENV=test) Vite bundled React's development build,
      // 535 KB instead of 307, and the cache below would then hand that build to a deploy or the bench.
      env: { ...process.env, NODE_OPTIONS: '', NODE_ENV: 'production' },
    },
  );
  if (run.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`console build failed (exit ${run.status ?? run.signal}):\n${run.stdout}${run.stderr}`);
  }
  try {
    renameSync(tmp, dir);
  } catch {
    // Another process finished the same build first: theirs is identical.
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const other of readdirSync(distDir)) {
    const path = join(distDir, other);
    // Older builds go; another process's build in progress (.tmp-*) is left alone unless an hour old (a crashed build).
    if (path !== dir && (!other.startsWith('.tmp-') || Date.now() - statSync(path).mtimeMs > 3_600_000)) rmSync(path, { recursive: true, force: true });
  }
  return { dir, built: true };
}

if (require.main === module) {
  const { dir, built } = ensureConsoleBuilt((line) => console.error(line));
  console.log(`${built ? 'built' : 'up to date'}: ${relative(process.cwd(), dir)}`);
}
