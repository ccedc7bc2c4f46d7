/**
 * TEST EQUIPMENT. Bundles the stand-in CLI once (esbuild, ~10 ms) into the OS temp dir and puts a `terraform`
 * shell shim next to it, so every invocation is a plain `node bundle.js` (~40 ms) instead of `tsx` (~400 ms).
 * The bundle is keyed by the source's hash: an edited stand-in is rebuilt, an unchanged one reused.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

const SOURCE = join(__dirname, 'standin.ts');

/** Returns the path of an executable that behaves like `terraform` (give it as STACKJOBS_TERRAFORM_BIN). */
export function buildStandin(): string {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).update(process.execPath).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `stackjobs-standin-${hash}`);
  const bin = join(dir, 'terraform');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const bundle = join(dir, 'standin.js');
  buildSync({ entryPoints: [SOURCE], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: `${bundle}.tmp`, logLevel: 'error' });
  renameSync(`${bundle}.tmp`, bundle);
  // exec: the shim becomes node, so signals sent to the tool reach the stand-in itself.
  writeFileSync(`${bin}.tmp`, `#!/bin/sh\nexec "${process.execPath}" "${bundle}" "$@"\n`);
  chmodSync(`${bin}.tmp`, 0o755);
  renameSync(`${bin}.tmp`, bin);
  return bin;
}

if (require.main === module) process.stdout.write(`${buildStandin()}\n`);
