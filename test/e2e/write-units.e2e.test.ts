/**
 * The DynamoDB write bill of one job that previews, waits for an approval and applies, in local mode, metered write by
 * write as DynamoDB bills it (test/support/write-units.ts): with this version's indexes (keys only), and, from the same
 * writes, what the indexes of earlier versions (every attribute copied) would cost. It prints both:
 *
 *   npm run jest -- test/e2e/write-units.e2e.test.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CATALOG_TABLE, JOBS_TABLE, LEGACY_JOBS_INDEXES, type TableDefinition } from '../../lambdas/adapters/dynamodb/table-definitions';
import type { StackJob } from '../../lambdas/domain/schemas';
import { localConfigSchema } from '../../local/config';
import { REPO_ROOT, startLocalMode, type LocalMode } from '../../local/local-mode';
import { buildStandin } from '../support/standin-iac/build';
import { itemSize, WriteMeter } from '../support/write-units';

/** The target for a job with an approval (it was 433 by the bench's estimate with indexes that copy everything). */
const TARGET_WRITE_UNITS = 200;

let local: LocalMode;
const meter = new WriteMeter();
beforeAll(async () => {
  const config = localConfigSchema.parse(parse(readFileSync(join(REPO_ROOT, 'examples/local/stackjobs.yaml'), 'utf8')));
  local = await startLocalMode({
    config,
    inMemory: true,
    runnerEnv: { STACKJOBS_TERRAFORM_BIN: buildStandin(), STACKJOBS_LOG_FLUSH_SECONDS: '1' },
    faults: { dynamodb: meter.rule },
  });
  meter.bind(local.dynamoEndpoint, local.credentials);
}, 120_000);
afterAll(async () => {
  meter.destroy();
  await local?.stop();
});

async function post(path: string, token: string, body?: unknown): Promise<{ status: number; json: StackJob }> {
  const res = await fetch(`${local.apiUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as StackJob };
}

async function waitFor(id: string, until: (j: StackJob) => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${local.apiUrl}/v1/stack-jobs/${id}`, { headers: { authorization: 'Bearer local-operator-token' } });
    const job = (await res.json()) as StackJob;
    if (until(job)) return;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck at ${JSON.stringify(job.status)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it(`bills a job with an approval at most ${TARGET_WRITE_UNITS} write units, no index write for a job's status changes`, async () => {
  const from = performance.now();
  const submitted = await post('/v1/stack-jobs', 'local-operator-token', {
    resource: { id: 'metered', name: 'metered', org: 'acmecorp', env: 'production', version: { id: 'v1', message: 'metered' } },
    kind: 'demo_bucket',
    spec: { tier: 'standard' },
    triggerEvent: 'created',
    createdBy: 'dev@acmecorp.example',
  });
  expect(submitted.status).toBe(201);
  const id = submitted.json.metadata.id;
  await waitFor(id, (j) => j.status.phase === 'awaiting_approval');
  expect((await post(`/v1/stack-jobs/${id}/approve`, 'local-approver-token', {})).status).toBeLessThan(300);
  await local.sfn.waitFor(`${local.names.stateMachineArn.replace(':stateMachine:', ':execution:')}:${id}`);
  await waitFor(id, (j) => j.status.phase === 'completed' && j.status.result === 'succeeded');
  await new Promise((r) => setTimeout(r, 300)); // the runner's last writes after it reported
  const to = performance.now();

  const priced = async (jobs: TableDefinition) => meter.costs(from, to, (t) => (t === local.names.jobsTable ? jobs : CATALOG_TABLE));
  const now = await priced(JOBS_TABLE);
  const legacy = await priced({ ...JOBS_TABLE, indexes: Object.values(LEGACY_JOBS_INDEXES) });
  const units = (ws: typeof now, f: (w: (typeof now)[number]) => number) => ws.reduce((n, w) => n + f(w), 0);
  const isJob = (w: (typeof now)[number]) => w.key.pk.S === `JOB#${id}`;
  // The job's largest status write: an update of the open job, several KB with its frozen snapshot.
  const statusWrite = (w: (typeof now)[number]) => isJob(w) && w.before?.gsi3pk !== undefined && w.after?.gsi3pk !== undefined;
  const largest = now.reduce((m, w, i) => (statusWrite(w) && (m < 0 || itemSize(w.after!) > itemSize(now[m].after!)) ? i : m), -1);
  const summary = {
    writes: now.length,
    jobItemWrites: now.filter(isJob).length,
    writeUnits: { keysOnlyIndexes: units(now, (w) => w.cost.total), allAttributeIndexes: units(legacy, (w) => w.cost.total) },
    ofWhichIndexes: { keysOnlyIndexes: units(now, (w) => w.cost.total - w.cost.table), allAttributeIndexes: units(legacy, (w) => w.cost.total - w.cost.table) },
    largestStatusWrite: { bytes: itemSize(now[largest].after!), keysOnlyIndexes: now[largest].cost, allAttributeIndexes: legacy[largest].cost },
  };
  process.stdout.write(`write units of one job with an approval: ${JSON.stringify(summary)}\n`);

  expect(summary.writeUnits.keysOnlyIndexes).toBeLessThanOrEqual(TARGET_WRITE_UNITS);
  // The indexes see a job enter (three indexes) and leave the open queue: never a status write in between.
  const indexed = now.filter((w) => isJob(w) && w.cost.total > w.cost.table);
  expect(indexed.map((w) => w.cost.indexes)).toEqual([
    { [JOBS_TABLE.indexes[0].indexName]: 1, [JOBS_TABLE.indexes[1].indexName]: 1, [JOBS_TABLE.indexes[2].indexName]: 1 },
    { [JOBS_TABLE.indexes[0].indexName]: 0, [JOBS_TABLE.indexes[1].indexName]: 0, [JOBS_TABLE.indexes[2].indexName]: 1 },
  ]);
});
