/**
 * Drift schedules end to end through local mode: the catalog route, local mode's scheduler (on a fast clock: one
 * scheduled minute per wall-clock second) calling the fan-out handler, the checks it starts, the Stack Drift Detected
 * rule's handler (Slack notice to a loopback stand-in for slack.com/api, remediation job), and the `stackjobs drift`
 * commands. A Slack bot token is planted: it must reach Slack's Authorization header and nothing else.
 */
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { StackJob } from '../../lambdas/domain/schemas';
import { REPO_ROOT } from '../../local/local-mode';
import { bucketChange, e2eConfig, runCliAgainst, startE2E, TOKENS, type E2E } from '../support/e2e-harness';

// Powertools logs are part of what must never carry the token: on, and captured (not printed) while this file runs.
process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
const PLANTED_BOT_TOKEN = 'xoxb-PLANTED-drift-5b1e0c7d9a3f-token';
const PROD_CHANNEL = 'C0PRODDRIFT';

let e: E2E;
let slack: Server;
const slackRequests: Array<{ path: string; auth?: string; body: string }> = [];
const captured: string[] = [];
let restoreOutput: () => void = () => undefined;

beforeAll(async () => {
  slack = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      slackRequests.push({
        path: req.url ?? '',
        auth: req.headers.authorization,
        body: decodeURIComponent(Buffer.concat(chunks).toString('utf8').replace(/\+/g, ' ')),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, ts: `1700000000.${String(slackRequests.length).padStart(6, '0')}`, channel: PROD_CHANNEL }));
    });
  });
  await new Promise<void>((r) => slack.listen(0, '127.0.0.1', r));
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const keep = (chunk: unknown) => (captured.push(String(chunk)), true);
  process.stdout.write = keep as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => (
    keep(chunk),
    (err as (...a: unknown[]) => boolean)(chunk, ...rest)
  )) as typeof process.stderr.write;
  restoreOutput = () => {
    process.stdout.write = out;
    process.stderr.write = err;
  };

  const config = e2eConfig();
  config.slack = { ...config.slack, botToken: PLANTED_BOT_TOKEN, apiUrl: `http://127.0.0.1:${(slack.address() as AddressInfo).port}/api/` };
  config.catalog['org-settings'] = [{ org: 'acmecorp', approvalChannels: { production: PROD_CHANNEL } }];
  const t0 = Date.now();
  e = await startE2E(config, { driftScheduler: { tickMs: 200, now: () => new Date(t0 + (Date.now() - t0) * 60) } });
}, 120000);

afterAll(async () => {
  // A job left awaiting approval keeps the in-process interpreter (and so this process) alive: end them first.
  const open = await e?.call<{ items: StackJob[] }>('GET', '/v1/stack-jobs', { query: { org: 'acmecorp', phase: 'awaiting_approval', limit: '100' } });
  for (const job of open?.body.items ?? []) await e.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`);
  for (const id of ['every-minute', 'fix-remedy']) await e?.call('DELETE', `/v1/orgs/acmecorp/drift-schedules/${id}`, { token: TOKENS.admin });
  await e?.stop();
  restoreOutput();
  await new Promise<void>((r) => slack?.close(() => r()));
}, 60000);

const done = (j: StackJob) => j.status.phase === 'completed';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function jobs(query: Record<string, string>): Promise<StackJob[]> {
  return (await e.call<{ items: StackJob[] }>('GET', '/v1/stack-jobs', { query: { org: 'acmecorp', limit: '100', ...query } })).body.items;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${e.logs.slice(-30).join('\n')}`);
    await sleep(200);
  }
}

async function applied(resourceId: string, env: string): Promise<StackJob> {
  const res = await e.call<StackJob>('POST', '/v1/stack-jobs', { body: bucketChange(resourceId, 'v1', { env, spec: { tier: 'standard', size: 1 } }) });
  expect(res.status).toBe(201);
  if (env === 'production') {
    await e.waitFor(res.body.metadata.id, (j) => j.status.phase === 'awaiting_approval');
    expect((await e.call('POST', `/v1/stack-jobs/${res.body.metadata.id}/approve`, { token: TOKENS.approver, body: {} })).status).toBe(200);
  }
  const finished = await e.waitFor(res.body.metadata.id, done);
  expect(finished.status.result).toBe('succeeded');
  await until(`the status of ${resourceId}`, async () => {
    const r = await e.call<{ lastAppliedJobId?: string }>('GET', `/v1/orgs/acmecorp/envs/${env}/resources/${resourceId}`);
    return r.body?.lastAppliedJobId === finished.metadata.id ? true : undefined;
  });
  return finished;
}

/** The resource's state file, where the example config's local backend keeps it; `.drift.json` beside it is "the real world" to the stand-in CLI. */
function plantDrift(resourceId: string, env: string, drift: Record<string, unknown>): void {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(`/acmecorp/${env}/${resourceId}/terraform.tfstate`)) found.push(p);
    }
  };
  if (existsSync(e.local.dataDir)) walk(e.local.dataDir);
  expect(found).toHaveLength(1);
  writeFileSync(`${found[0]}.drift.json`, JSON.stringify(drift));
}

const putSchedule = (id: string, body: Record<string, unknown>) => e.call('PUT', `/v1/orgs/acmecorp/drift-schedules/${id}`, { token: TOKENS.admin, body });
const runsOf = (id: string) => e.logs.filter((l) => l.startsWith(`drift schedule acmecorp/${id} ran`)).length;

const cli = (args: string[]) => runCliAgainst(e, args);

describe('a drift schedule', () => {
  it('every minute, runs checks by itself in local mode of exactly the resources its selector matches, and stops when deleted', async () => {
    await Promise.all([applied('sched_a', 'dev'), applied('sched_b', 'dev'), applied('sched_other', 'sandbox')]);
    const by = 'drift-schedule:every-minute';
    expect((await putSchedule('every-minute', { selector: { level: 'environment', org: 'acmecorp', env: 'dev' }, schedule: 'cron(* * * * ? *)' })).status).toBe(
      201,
    );

    // Nobody starts a check: the schedule does, at each (fast) minute, for dev's resources only.
    const scheduled = async () => (await jobs({})).filter((j) => j.metadata.submittedBy === by);
    await until('two runs of the schedule, each resource checked and done', async () => {
      const checks = await scheduled();
      const finished = new Set(checks.filter(done).map((j) => j.spec.apiResourceInfo.id));
      return runsOf('every-minute') >= 2 && finished.has('sched_a') && finished.has('sched_b') ? true : undefined;
    });
    const checks = await scheduled();
    expect([...new Set(checks.map((j) => `${j.metadata.env}/${j.spec.apiResourceInfo.id}`))].sort()).toEqual(['dev/sched_a', 'dev/sched_b']);
    for (const check of checks) {
      expect(check.spec.driftCheck).toMatchObject({ remediate: 'none', scheduleId: 'every-minute' });
      expect(check.spec.operations).toEqual(['init', 'refresh']);
    }
    expect(checks.filter(done).every((j) => j.status.reason === 'drift_checked')).toBe(true);

    // Deleted through the API: the next tick reads the catalog and it runs no more.
    expect((await e.call('DELETE', '/v1/orgs/acmecorp/drift-schedules/every-minute', { token: TOKENS.admin })).status).toBe(204);
    await sleep(1000);
    const after = runsOf('every-minute');
    await sleep(3000); // three scheduled minutes
    expect(runsOf('every-minute')).toBe(after);
    // Let the last checks end before the next test plants drift on dev.
    for (const j of await scheduled()) await e.waitFor(j.metadata.id, done);
  }, 120000);
});

describe('stackjobs drift', () => {
  it('check --wait follows a check and prints what drifted; status prints the last drift as a table, or as JSON with -o json', async () => {
    plantDrift('sched_a', 'dev', { 'standin_value.size': 7, 'standin_value.tier': null });
    const run = await cli(['drift', 'check', 'acmecorp/dev/sched_a', '--wait']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const id = /drift check (sj_[0-9a-z]{26}) of acmecorp\/dev\/sched_a started/.exec(run.stdout)?.[1];
    expect(id).toBeDefined();
    expect(run.stdout).toMatch(/CHECKED AT\s+JOB\s+DRIFTED\s+TOTAL/);
    expect(run.stdout).toMatch(new RegExp(`${id}\\s+yes\\s+2`));
    expect(run.stdout).toMatch(/standin_value\.size\s+update/);
    expect(run.stdout).toMatch(/standin_value\.tier\s+delete/);

    const status = await cli(['drift', 'status', 'acmecorp/dev/sched_a']);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(id);
    expect(status.stdout).toMatch(/standin_value\.tier\s+delete/);
    const asJson = JSON.parse((await cli(['-o', 'json', 'drift', 'status', 'acmecorp/dev/sched_a'])).stdout) as {
      resourceId: string;
      drift: { jobId: string; drifted: boolean; total: number; resources: Array<{ address: string; actions: string[] }> };
    };
    expect(asJson).toMatchObject({ resourceId: 'sched_a', drift: { jobId: id, drifted: true, total: 2 } });
    expect(asJson.drift.resources.map((r) => r.address)).toEqual(['standin_value.size', 'standin_value.tier']);

    const clean = await cli(['drift', 'check', 'acmecorp/dev/sched_b', '--wait']);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/\s+no\s+0/);
    expect(clean.stdout).toContain('Nothing changed outside Stack Jobs.');
    // Without --wait: the job, at once.
    const started = JSON.parse((await cli(['-o', 'json', 'drift', 'check', 'acmecorp/dev/sched_b'])).stdout) as StackJob;
    expect(started.spec.driftCheck).toMatchObject({ remediate: 'none' });
    await e.waitFor(started.metadata.id, done);

    expect((await cli(['drift', 'check', 'acmecorp/sched_a'])).code).toBe(2);
    expect((await cli(['drift', 'status', 'acmecorp/dev/never_applied'])).code).toBe(1);
    const completion = await cli(['completion', 'bash']);
    const driftWords = /drift\) words="([^"]*)"/.exec(completion.stdout)?.[1].split(' ');
    expect(driftWords).toEqual(expect.arrayContaining(['check', 'status', '--wait']));
  }, 120000);
});

describe('when a scheduled check finds drift', () => {
  it('with remediate: plan, submits a change from the last applied version that waits for approval, notifies Slack, and makes no second job when the event comes again', async () => {
    const base = await applied('remedy', 'production');
    plantDrift('remedy', 'production', { 'standin_value.size': 9 });
    expect(
      (
        await putSchedule('fix-remedy', {
          selector: { level: 'resource', org: 'acmecorp', env: 'production', resourceId: 'remedy' },
          schedule: 'rate(1 day)',
          remediate: 'plan',
        })
      ).status,
    ).toBe(201);

    // A new rate schedule fires at once.
    const check = await until('the scheduled check', async () =>
      (await jobs({ resourceId: 'remedy' })).find((j) => j.metadata.submittedBy === 'drift-schedule:fix-remedy'),
    );
    expect(check.spec.driftCheck).toEqual({ remediate: 'plan', scheduleId: 'fix-remedy', basedOn: base.metadata.id });
    const checked = await e.waitFor(check.metadata.id, done);
    expect(checked.status).toMatchObject({ result: 'succeeded', reason: 'drift_checked', drift: { total: 1 } });

    const remediation = await until('the remediation job', async () =>
      (await jobs({ resourceId: 'remedy' })).find((j) => j.metadata.submittedBy === `drift-check:${check.metadata.id}`),
    );
    expect(remediation.metadata).toMatchObject({ rerunOf: base.metadata.id, version: { id: 'v1' } });
    expect(remediation.spec.driftCheck).toBeUndefined();
    // Like any change in production (the example policy pauses): planned, then waiting for a person.
    const waiting = await e.waitFor(remediation.metadata.id, (j) => j.status.phase === 'awaiting_approval');
    expect(waiting.status.plan?.summary.change).toBe(1);

    const notice = await until('the drift notice', async () =>
      slackRequests.find((r) => r.path.endsWith('chat.postMessage') && r.body.includes('Drift in acmecorp/production: remedy')),
    );
    expect(notice.auth).toBe(`Bearer ${PLANTED_BOT_TOKEN}`);
    expect(notice.body).toContain(PROD_CHANNEL);
    expect(notice.body).toContain('standin_value.size');
    expect(notice.body).toContain(remediation.metadata.id);
    expect(notice.body).not.toContain(PLANTED_BOT_TOKEN);

    // EventBridge delivers at least once: the same event again finds the job the first delivery submitted.
    const event = e.local.events.find((ev) => ev.detailType === 'Stack Drift Detected' && (ev.detail as { jobId: string }).jobId === check.metadata.id)!;
    expect(event.detail).toMatchObject({ org: 'acmecorp', env: 'production', resourceId: 'remedy', remediate: 'plan', scheduleId: 'fix-remedy', total: 1 });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { handler } = require(join(REPO_ROOT, 'lambdas/handlers/drift-detected.handler.ts')) as { handler: (ev: unknown) => Promise<void> };
    await handler({ source: event.source, 'detail-type': event.detailType, detail: event.detail });
    const remediations = (await jobs({ resourceId: 'remedy' })).filter((j) => j.metadata.submittedBy === `drift-check:${check.metadata.id}`);
    expect(remediations.map((j) => j.metadata.id)).toEqual([remediation.metadata.id]);
  }, 120000);

  it('never lets the Slack bot token into a log line, an event or storage (it only goes to Slack, in the Authorization header)', async () => {
    expect(slackRequests.some((r) => r.auth === `Bearer ${PLANTED_BOT_TOKEN}`)).toBe(true);
    expect(captured.join('\n')).toContain('drift notice posted to Slack');
    expect(captured.join('\n')).not.toContain(PLANTED_BOT_TOKEN);
    expect(e.logs.join('\n')).not.toContain(PLANTED_BOT_TOKEN);
    expect(JSON.stringify(e.local.events)).not.toContain(PLANTED_BOT_TOKEN);
    expect(e.bodies.join('\n')).not.toContain(PLANTED_BOT_TOKEN);
    expect(await e.dumpStorage()).not.toContain(PLANTED_BOT_TOKEN);
  });
});
