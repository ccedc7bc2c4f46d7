/** `npm run local` as a user runs it: prints its ready line, serves the API, and leaves nothing behind on Ctrl-C. */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

it('prints the ready line, answers on loopback, and shuts down cleanly on SIGINT', async () => {
  const tsx = join(__dirname, '../../node_modules/.bin/tsx');
  const child = spawn(process.execPath, [tsx, join(__dirname, '../../local/main.ts')], {
    env: { ...process.env, STACKJOBS_PORT: '0', STACKJOBS_DATA_DIR: mkdtempSync(join(tmpdir(), 'stackjobs-main-')), NODE_OPTIONS: '--openssl-legacy-provider' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line:\n${out}`)), 60000);
    child.stdout.on('data', () => {
      const m = /stackjobs local ready on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  expect(out).toMatch(/data dir: {2}\S+/);
  const port = Number(new URL(ready).port);
  const res = await fetch(`${ready}/v1/stack-jobs`, { headers: { authorization: 'Bearer local-operator-token' } });
  expect(res.status).toBe(200);

  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  expect(code).toBe(0);
  expect(out).toContain('SIGINT: stopping local mode');
  expect(await refused(port)).toBe(true);
}, 90000);
