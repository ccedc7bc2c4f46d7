/**
 * Conditional GETs, answered once by the router for every GET: a strong ETag on each 200 with a body, 304 with no body
 * for a matching If-None-Match, and nothing about a thing the caller may not read. Real repositories on dynalite; every
 * response is checked against docs/openapi.json (which documents the ETag, the 304 and If-None-Match).
 */
import { createHash } from 'node:crypto';
import type { Principal, StackJob } from '../../lambdas/domain/schemas';
import { makeJob } from '../support/domain-fixtures';
import { principals, startApiHarness, type ApiHarness } from '../support/api-harness';

let h: ApiHarness;
let job: StackJob;
const path = () => `/v1/stack-jobs/${job.metadata.id}`;
const get = (p: string, ifNoneMatch?: string, principal: Principal = principals.viewer) =>
  h.call('GET', p, { principal, ...(ifNoneMatch !== undefined ? { headers: { 'if-none-match': ifNoneMatch } } : {}) });

beforeAll(async () => {
  h = await startApiHarness();
  job = makeJob();
  expect(await h.jobs.create(job)).toBe(true);
});
afterAll(() => h.stop());

describe('conditional GETs', () => {
  it("tags a job's answer with a strong ETag, the SHA-256 of its body, and asks clients to revalidate", async () => {
    const res = await get(path());
    expect(res.statusCode).toBe(200);
    expect(res.headers?.etag).toBe(`"${createHash('sha256').update(res.body!).digest('base64url')}"`);
    expect(res.headers?.['cache-control']).toBe('private, no-cache');
    expect((await get(path())).headers?.etag).toBe(res.headers?.etag);
  });

  it('answers 304 with no body and the same ETag when If-None-Match names the current answer', async () => {
    const { headers } = await get(path());
    const etag = String(headers?.etag);
    const res = await get(path(), etag);
    expect(res.statusCode).toBe(304);
    expect(res.body ?? '').toBe('');
    expect(res.headers).toEqual({ etag, 'cache-control': 'private, no-cache' });
  });

  it('matches a tag in a list, a weak tag (W/) and *, and answers 200 to tags that do not match', async () => {
    const etag = String((await get(path())).headers?.etag);
    expect((await get(path(), `"stale", ${etag}`)).statusCode).toBe(304);
    expect((await get(path(), `W/${etag}`)).statusCode).toBe(304);
    expect((await get(path(), '*')).statusCode).toBe(304);
    expect((await get(path(), '"stale", W/"older"')).statusCode).toBe(200);
    expect((await get(path(), etag.slice(1, -1))).statusCode).toBe(200); // unquoted: not an entity tag
  });

  it('answers the new state, with a new ETag, once the job has changed', async () => {
    const before = String((await get(path())).headers?.etag);
    await h.jobs.update(job.metadata.id, (j) => ({ ...j, status: { ...j.status, queuePosition: 2 } }));
    const after = await get(path(), before);
    expect(after.statusCode).toBe(200);
    expect(after.json().status.queuePosition).toBe(2);
    expect(after.headers?.etag).not.toBe(before);
    expect((await get(path(), String(after.headers?.etag))).statusCode).toBe(304);
  });

  it('answers 304 on the listing while its page is unchanged, and 200 once a job joins it', async () => {
    const list = '/v1/stack-jobs';
    const first = await get(list);
    expect(first.statusCode).toBe(200);
    const etag = String(first.headers?.etag);
    expect((await get(list, etag)).statusCode).toBe(304);
    expect(await h.jobs.create(makeJob())).toBe(true);
    const changed = await get(list, etag);
    expect(changed.statusCode).toBe(200);
    expect(changed.json().items).toHaveLength(first.json().items.length + 1);
  });

  it("never answers 304 for a job the caller may not read: another org's job stays a 404, whatever the tag", async () => {
    const etag = String((await get(path())).headers?.etag);
    for (const tag of [etag, '*']) {
      const res = await get(path(), tag, principals.globexOperator);
      expect(res.statusCode).toBe(404);
      expect(res.headers?.etag).toBeUndefined();
    }
  });

  it('tags no error and no write', async () => {
    const missing = await get('/v1/stack-jobs/sj_00000000000000000000000000', '*');
    expect(missing.statusCode).toBe(404);
    expect(missing.headers?.etag).toBeUndefined();
    const bad = await get('/v1/stack-jobs?sort=asc');
    expect(bad.headers?.etag).toBeUndefined();
    const put = await h.call('PUT', '/v1/orgs/acmecorp/org-settings/acmecorp', {
      principal: principals.admin,
      body: {},
      headers: { 'if-none-match': '*' },
    });
    expect(put.statusCode).toBe(201);
    expect(put.headers?.etag).toBeUndefined();
  });
});
