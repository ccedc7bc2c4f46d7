import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { StackJob } from '../../lambdas/domain/schemas';
import { localConfigSchema } from '../../local/config';
import { startLocalMode, type LocalMode } from '../../local/local-mode';
import { buildStandin } from '../support/standin-iac/build';

let local: LocalMode;
const logs: string[] = [];

beforeAll(async () => {
  const config = localConfigSchema.parse(parse(readFileSync(join(__dirname, '../../examples/local/stackjobs.yaml'), 'utf8')));
  (config.catalog['flow-control-policies']![0] as { pauseBetweenPreviewAndUpdate: boolean }).pauseBetweenPreviewAndUpdate = false;
  local = await startLocalMode({ config, inMemory: true, runnerEnv: { STACKJOBS_TERRAFORM_BIN: buildStandin() }, log: (l) => logs.push(l) });
}, 60000);
afterAll(() => local?.stop());

it('runs a change end to end', async () => {
  const change = parse(readFileSync(join(__dirname, '../../examples/local/change.yaml'), 'utf8'));
  const res = await fetch(`${local.apiUrl}/v1/stack-jobs`, { method: 'POST', headers: { authorization: 'Bearer local-operator-token', 'content-type': 'application/json' }, body: JSON.stringify(change) });
  const job = (await res.json()) as StackJob;
  expect(res.status).toBe(201);
  let current: StackJob = job;
  for (let i = 0; i < 300 && current.status.phase !== 'completed'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    current = (await (await fetch(`${local.apiUrl}/v1/stack-jobs/${job.metadata.id}`, { headers: { authorization: 'Bearer local-operator-token' } })).json()) as StackJob;
  }
  if (current.status.result !== 'succeeded') console.log(JSON.stringify(current.status, null, 2), logs.join('\n'));
  expect(current.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
}, 60000);
