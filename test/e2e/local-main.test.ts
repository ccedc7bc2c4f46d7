/** `npm run local` as a user runs it: prints its ready line, serves the API and the console, and leaves nothing behind on Ctrl-C. */
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { existsSync, mkdtempSync } from 'node:fs';
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
  // Progress while it starts, then the example config's tokens with their roles.
  expect(out.indexOf('starting: synthesizing the CDK app offline')).toBeGreaterThanOrEqual(0);
  expect(out.indexOf('starting: synthesizing')).toBeLessThan(out.indexOf('starting: starting S3'));
  expect(out).toMatch(/local-approver-token\s+approver@acmecorp\.example — approver, viewer in acmecorp/);
  // A second approver, so the example plan policy's two-approval rule can be met in local mode.
  expect(out).toMatch(/local-approver2-token\s+approver2@acmecorp\.example — approver, viewer in acmecorp/);
  expect(out).toMatch(/local-platform-admin-token\s+\S+ — platform-admin, admin in acmecorp/);
  const port = Number(new URL(ready).port);
  const res = await fetch(`${ready}/v1/stack-jobs`, { headers: { authorization: 'Bearer local-operator-token' } });
  expect(res.status).toBe(200);
  // The web console at / on the same port, built for the current sources (infra/console-build.ts), with its CSP.
  expect(out).toContain(`console:   ${ready}/`);
  const page = await fetch(`${ready}/`);
  expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
  const html = await page.text();
  const script = /<script type="module" crossorigin src="([^"]+)"/.exec(html)?.[1];
  expect(script).toMatch(/^\/assets\/.+\.js$/);
  expect((await fetch(`${ready}${script}`)).status).toBe(200);
  expect(await (await fetch(`${ready}/config.json`)).json()).toEqual({ mode: 'local' });

  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  expect(code).toBe(0);
  expect(out).toContain('SIGINT: stopping local mode');
  expect(await refused(port)).toBe(true);
}, 90000);

it('refuses a port in use at once, naming the variable that changes it, before it creates anything', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
  const port = (taken.address() as { port: number }).port;
  const dataDir = join(mkdtempSync(join(tmpdir(), 'stackjobs-main-port-')), 'data');
  try {
    const tsx = join(__dirname, '../../node_modules/.bin/tsx');
    const child = spawn(process.execPath, [tsx, join(__dirname, '../../local/main.ts')], {
      env: { ...process.env, STACKJOBS_PORT: String(port), STACKJOBS_DATA_DIR: dataDir, NODE_OPTIONS: '--openssl-legacy-provider' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(out).toContain(`port ${port} on 127.0.0.1 is in use`);
    expect(out).toContain('set STACKJOBS_PORT');
    expect(out).not.toContain('starting: synthesizing');
    expect(existsSync(dataDir)).toBe(false);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
}, 60000);
