/** The response validator the API tests run every response through: it must catch each kind of drift. */
import { componentExamples } from '../../lambdas/api/openapi';
import { change } from '../support/domain-fixtures';
import { principals, startApiHarness, type ApiHarness } from '../support/api-harness';
import { ContractDriftError, OpenApiValidator, openApiValidator } from '../support/openapi-validator';

const validator = new OpenApiValidator();
const job = componentExamples.StackJob as { metadata: Record<string, unknown>; status: Record<string, unknown> };
const JOB_PATH = `/v1/stack-jobs/${job.metadata.id as string}`;
/** A 200 as the router sends a GET's: tagged and to be revalidated (http/conditional.ts). */
const ok = (body: unknown, headers: Record<string, string> = {}) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json', etag: '"tag"', 'cache-control': 'private, no-cache', ...headers },
  body: JSON.stringify(body),
});

describe('the OpenAPI response validator', () => {
  it('accepts a response that keeps to the document', () => {
    expect(validator.violations({ method: 'GET', path: JOB_PATH, response: ok(job) })).toEqual([]);
  });

  it('catches a 200 body missing a required field', () => {
    const { status: _status, ...withoutStatus } = job;
    expect(validator.violations({ method: 'GET', path: JOB_PATH, response: ok(withoutStatus) })).toEqual([
      expect.stringContaining("must have required property 'status'"),
    ]);
  });

  it('catches a field the schema does not allow and a value of the wrong type', () => {
    const v = validator.violations({
      method: 'GET',
      path: JOB_PATH,
      response: ok({ ...job, metadata: { ...job.metadata, secretAccessKey: 'x' }, status: { ...job.status, phase: 'paused' } }),
    });
    expect(v).toEqual(
      expect.arrayContaining([
        expect.stringContaining('must NOT have additional properties'),
        expect.stringContaining('/status/phase: must be equal to one of the allowed values'),
      ]),
    );
  });

  it('catches a status the operation does not document', () => {
    expect(
      validator.violations({
        method: 'GET',
        path: JOB_PATH,
        response: { statusCode: 409, headers: { 'content-type': 'application/problem+json' }, body: '{}' },
      }),
    ).toEqual([expect.stringContaining('status 409 is not documented for GET /v1/stack-jobs/{id}')]);
  });

  it('catches an error sent as application/json instead of application/problem+json', () => {
    const problem = { type: 'https://stackjobs.dev/problems/not-found', title: 'Not found', status: 404, detail: 'stack job x not found' };
    expect(
      validator.violations({
        method: 'GET',
        path: JOB_PATH,
        response: { statusCode: 404, headers: { 'content-type': 'application/problem+json' }, body: JSON.stringify(problem) },
      }),
    ).toEqual([]);
    expect(
      validator.violations({
        method: 'GET',
        path: JOB_PATH,
        response: { statusCode: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify(problem) },
      }),
    ).toEqual([expect.stringContaining('content type "application/json" is not one of application/problem+json')]);
  });

  it('catches a created job answered without its Location header', () => {
    expect(validator.violations({ method: 'POST', path: '/v1/stack-jobs', response: { ...ok(job), statusCode: 201 } })).toEqual([
      'missing required header Location',
    ]);
  });

  it("catches a GET's 200 without its ETag, and a 304 that sends a body or no ETag", () => {
    const { etag: _etag, ...untagged } = ok(job).headers;
    expect(validator.violations({ method: 'GET', path: JOB_PATH, response: { ...ok(job), headers: untagged } })).toEqual(['missing required header ETag']);
    const notModified = { statusCode: 304, headers: { etag: '"tag"', 'cache-control': 'private, no-cache' } };
    expect(validator.violations({ method: 'GET', path: JOB_PATH, response: notModified })).toEqual([]);
    expect(validator.violations({ method: 'GET', path: '/v1/stack-jobs', response: notModified })).toEqual([]);
    expect(validator.violations({ method: 'GET', path: JOB_PATH, response: { ...notModified, body: JSON.stringify(job) } })).toEqual([
      expect.stringContaining('documents no body'),
    ]);
    expect(validator.violations({ method: 'GET', path: JOB_PATH, response: { ...notModified, headers: { 'cache-control': 'private, no-cache' } } })).toEqual([
      'missing required header ETag',
    ]);
    expect(validator.violations({ method: 'POST', path: '/v1/stack-jobs', response: notModified })).toEqual([
      expect.stringContaining('status 304 is not documented for POST /v1/stack-jobs'),
    ]);
  });

  it('catches a body sent where the document promises none', () => {
    expect(validator.violations({ method: 'DELETE', path: '/v1/orgs/acmecorp/runners/r1', response: { statusCode: 204, body: '{}' } })).toEqual([
      expect.stringContaining('documents no body'),
    ]);
  });

  it('catches a server that accepts a request body or a query the document rejects', () => {
    const accepted = { ...ok(job), statusCode: 201, headers: { 'content-type': 'application/json', location: JOB_PATH } };
    expect(validator.violations({ method: 'POST', path: '/v1/stack-jobs', request: { rawBody: JSON.stringify(change()) }, response: accepted })).toEqual([]);
    expect(
      validator.violations({ method: 'POST', path: '/v1/stack-jobs', request: { rawBody: JSON.stringify({ ...change(), extra: 1 }) }, response: accepted }),
    ).toEqual([expect.stringContaining('accepted request body: must NOT have additional properties')]);
    expect(validator.violations({ method: 'GET', path: '/v1/stack-jobs', query: { limit: '500' }, response: ok({ items: [] }) })).toEqual([
      expect.stringContaining('accepted query/limit: must be <= 100'),
    ]);
  });

  it('lets an undocumented path answer only 404 or 405, and a documented path with another method only 405 with Allow', () => {
    const problem = (status: number) => ({ type: 'https://stackjobs.dev/problems/x', title: 'x', status, detail: 'x' });
    const res = (status: number, headers: Record<string, string> = {}) => ({
      statusCode: status,
      headers: { 'content-type': 'application/problem+json', ...headers },
      body: JSON.stringify(problem(status)),
    });
    expect(validator.violations({ method: 'GET', path: '/v1/nothing-here', response: res(404) })).toEqual([]);
    expect(validator.violations({ method: 'GET', path: '/v1/nothing-here', response: ok({}) })).toEqual([
      expect.stringContaining('may only answer 404 or 405'),
    ]);
    expect(validator.violations({ method: 'DELETE', path: '/v1/stack-jobs', response: res(405, { allow: 'GET, POST' }) })).toEqual([]);
    expect(validator.violations({ method: 'DELETE', path: '/v1/stack-jobs', response: res(405) })).toEqual(['missing required header Allow']);
    expect(validator.violations({ method: 'DELETE', path: '/v1/stack-jobs', response: res(404) })).toEqual(['expected status 405, got 404']);
  });
});

describe('the API test harness', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness();
  });
  afterAll(() => h.stop());

  it('fails a call whose response drifts from the document', async () => {
    const real = openApiValidator().violations.bind(openApiValidator());
    const spy = jest.spyOn(openApiValidator(), 'violations').mockImplementation((x) => [...real(x), 'planted drift']);
    try {
      await expect(h.call('GET', '/v1/orgs/acmecorp/runners', { principal: principals.viewer })).rejects.toThrow(ContractDriftError);
    } finally {
      spy.mockRestore();
    }
    expect((await h.call('GET', '/v1/orgs/acmecorp/runners', { principal: principals.viewer })).statusCode).toBe(200);
  });
});
