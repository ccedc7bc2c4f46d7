/**
 * Local mode's console server (local/console-site.ts through local/http-api.ts): the build at `/`, the API untouched
 * under /v1/, CloudFront's security headers on every console file, single-page routes answered with index.html, and
 * nothing outside the build reachable.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONSOLE_CORS, consoleContentSecurityPolicy } from '../../infra/console-headers';
import { startHttpApi, type HttpApi } from '../../local/http-api';

let root: string;
let dist: string;
let api: HttpApi;
const handled: string[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'stackjobs-console-site-'));
  dist = join(root, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="/assets/index-abc.js"></script>');
  writeFileSync(join(dist, 'assets', 'index-abc.js'), 'console.log("console")');
  writeFileSync(join(root, 'secret.txt'), 'OUTSIDE-THE-BUILD');
  api = await startHttpApi({
    handler: async (event) => {
      handled.push(`${event.requestContext.http.method} ${event.rawPath}`);
      return { statusCode: 401, headers: { 'content-type': 'application/json' }, body: '{"message":"Unauthorized"}' };
    },
    principals: [],
    claimNames: { subject: 'sub', orgs: 'orgs', roles: 'roles' },
    consoleDir: dist,
    corsOrigins: ['https://console.example'],
  });
});

afterAll(async () => {
  await api.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('the console in local mode', () => {
  it('serves index.html at / with the strict CSP and the other security headers CloudFront sends', async () => {
    const res = await fetch(`${api.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(consoleContentSecurityPolicy([]));
    expect(res.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toContain('<div id="root">');
  });

  it('serves hashed assets as immutable, and a missing asset as a 404 rather than the page', async () => {
    const asset = await fetch(`${api.url}/assets/index-abc.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(await asset.text()).toBe('console.log("console")');
    expect((await fetch(`${api.url}/assets/index-gone.js`)).status).toBe(404);
  });

  it('answers the console routes with index.html (the app routes in the browser), and /config.json with local mode', async () => {
    for (const path of ['/jobs', '/jobs/sj_01jsrnmwpnnc6n62h06xafcgxv', '/orgs/acmecorp/envs/prod/resources/r1', '/catalog']) {
      const res = await fetch(`${api.url}${path}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<div id="root">');
    }
    const config = await fetch(`${api.url}/config.json`);
    expect(await config.json()).toEqual({ mode: 'local' });
  });

  it('never serves a file outside the build, however the path is spelled', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/..%5csecret.txt']) {
      const res = await fetch(`${api.url}${path}`);
      expect(await res.text()).not.toContain('OUTSIDE-THE-BUILD');
    }
  });

  it('leaves /v1/ to the API, and every method but GET and HEAD too', async () => {
    handled.length = 0;
    expect((await fetch(`${api.url}/v1/stack-jobs`)).status).toBe(401);
    expect((await fetch(`${api.url}/jobs`, { method: 'POST', body: '{}' })).status).toBe(401);
    expect(handled).toEqual(['GET /v1/stack-jobs', 'POST /jobs']);
  });

  it("applies the API's CORS as API Gateway does: preflights answered before the handler, the console's origin alone, ETag readable", async () => {
    handled.length = 0;
    const preflight = await fetch(`${api.url}/v1/stack-jobs/sj_1/rerun`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://console.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,idempotency-key',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://console.example');
    expect(preflight.headers.get('access-control-allow-headers')).toBe(CONSOLE_CORS.allowHeaders.join(','));
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET,POST,PUT,DELETE');
    const other = await fetch(`${api.url}/v1/stack-jobs`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(handled).toEqual([]);

    const answer = await fetch(`${api.url}/v1/stack-jobs`, { headers: { origin: 'https://console.example' } });
    expect(answer.headers.get('access-control-allow-origin')).toBe('https://console.example');
    expect(answer.headers.get('access-control-expose-headers')).toBe('etag');
    const foreign = await fetch(`${api.url}/v1/stack-jobs`, { headers: { origin: 'https://evil.example' } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });
});
