/**
 * Local mode's data directory: one it made for itself (no `dataDir` given, as the tests and the bench start it) goes
 * when it stops, so runs leave nothing behind in the temp dir; a named one (`npm run local`'s .stackjobs) stays, which
 * the restart tests rely on (test/faults/restart.test.ts starts local mode again on the same directory).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { localConfigSchema } from '../../local/config';
import { REPO_ROOT, startLocalMode } from '../../local/local-mode';

it('removes the temporary data directory it made for itself when it stops, with what its stand-ins wrote there', async () => {
  const config = localConfigSchema.parse(parse(readFileSync(join(REPO_ROOT, 'examples/local/stackjobs.yaml'), 'utf8')));
  const local = await startLocalMode({ config, log: () => undefined });
  const dir = local.dataDir;
  try {
    // S3's stand-in keeps its buckets there, and the runner bundle is built there.
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['s3', 'runner']));
  } finally {
    await local.stop();
  }
  expect(existsSync(dir)).toBe(false);
}, 90000);
