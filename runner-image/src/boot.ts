/**
 * The container's entrypoint (`node /app/runner.js`): loads the runner bundle (`runner-main.js`) with V8's code cache,
 * so a task does not compile 2–3 MB of JavaScript before its first AWS call (about 50 ms of every task start on the
 * bench machine). The cache is made once, when the image (or local mode's runner) is built: `node runner.js
 * --write-code-cache` loads the bundle without running it and saves what V8 compiled. A cache that is missing, stale or
 * made by another Node is rejected by V8 itself and the bundle is compiled as usual: the cache only ever saves time.
 * Only node: built-ins here, so this file stays a few hundred bytes of work.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';

/** What the bundle exports (runner.main.ts). */
interface RunnerMain {
  start(): void;
}

export const RUNNER_MAIN_FILE = 'runner-main.js';
export const CODE_CACHE_FILE = 'runner-main.js.cache';

/** Compiles and evaluates the bundle as CommonJS would, with the cache when V8 accepts it. */
export function loadRunnerMain(dir: string): { main: RunnerMain; script: Script; cacheRejected: boolean | undefined } {
  const file = join(dir, RUNNER_MAIN_FILE);
  const cacheFile = join(dir, CODE_CACHE_FILE);
  const cachedData = existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
  // The wrapper shares the first line with the bundle, so line numbers in stack traces stay the bundle's own.
  const source = `(function (exports, require, module, __filename, __dirname) { ${readFileSync(file, 'utf8')}\n})`;
  const script = new Script(source, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} as RunnerMain };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, file, dir);
  return { main: module.exports, script, cacheRejected: cachedData ? script.cachedDataRejected : undefined };
}

/** Loads the bundle without starting it and writes what V8 compiled (atomically: a reader never sees half a cache). */
export function writeCodeCache(dir: string): number {
  const { script } = loadRunnerMain(dir);
  const data = script.createCachedData();
  const cacheFile = join(dir, CODE_CACHE_FILE);
  writeFileSync(`${cacheFile}.tmp`, data, { mode: 0o644 });
  renameSync(`${cacheFile}.tmp`, cacheFile);
  return data.length;
}

if (require.main === module) {
  if (process.argv[2] === '--write-code-cache') {
    const bytes = writeCodeCache(__dirname);
    process.stdout.write(`${join(__dirname, CODE_CACHE_FILE)}: ${bytes} bytes\n`);
  } else {
    const { main, cacheRejected } = loadRunnerMain(__dirname);
    // Worth knowing (every task start pays the compile again), never worth failing for.
    if (cacheRejected) process.stderr.write(`[stack-jobs runner] the code cache was rejected (made by another Node?): compiled instead\n`);
    main.start();
  }
}
