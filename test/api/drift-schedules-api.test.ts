/**
 * The catalog route keeps EventBridge Scheduler in step with the drift schedules (aws-sdk-client-mock on the real
 * adapter): CreateSchedule on the first PUT, UpdateSchedule on a replace, DeleteSchedule on DELETE, and nothing when
 * the body is refused. The schedule invokes the fan-out with `{org, scheduleId}` through the Scheduler role.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateScheduleCommand, DeleteScheduleCommand, SchedulerClient, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgeDriftSchedules, scheduleNameOf } from '../../lambdas/adapters/aws/drift-schedules';
import type { CatalogRepository } from '../../lambdas/adapters/dynamodb/catalog-repository';
import { createApi } from '../../lambdas/api/api-app';
import { catalogRoutes } from '../../lambdas/api/catalog-routes';
import type { CatalogKind } from '../../lambdas/domain/schemas';
import { CLAIMS, httpEvent, principals } from '../support/api-harness';
import { fixedClock, TEST_DEPLOYMENT_ID } from '../support/domain-fixtures';

/** The catalog table's behaviour the routes rely on, in memory. */
class MemoryCatalogTable {
  readonly items = new Map<string, unknown>();
  async list(kind: CatalogKind, owner: string) {
    return [...this.items].filter(([k]) => k.startsWith(`${owner}#${kind}#`)).map(([, v]) => v);
  }
  async get(kind: CatalogKind, owner: string, id: string) {
    return this.items.get(`${owner}#${kind}#${id}`);
  }
  async put(kind: CatalogKind, owner: string, id: string, entity: unknown) {
    const existed = this.items.has(`${owner}#${kind}#${id}`);
    this.items.set(`${owner}#${kind}#${id}`, entity);
    return existed;
  }
  async delete(kind: CatalogKind, owner: string, id: string) {
    return this.items.delete(`${owner}#${kind}#${id}`);
  }
}

const TARGET = {
  groupName: 'StackJobs-Drift-ScheduleGroup-1',
  roleArn: 'arn:aws:iam::123456789012:role/StackJobs-DriftSchedulerRole',
  functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:StackJobs-DriftFanOut',
};
const scheduler = mockClient(SchedulerClient);
const catalog = new MemoryCatalogTable();
const api = createApi({
  routes: catalogRoutes({
    catalog: catalog as unknown as CatalogRepository,
    clock: fixedClock(),
    deploymentId: () => TEST_DEPLOYMENT_ID,
    driftSchedules: new EventBridgeDriftSchedules(new SchedulerClient({ region: 'us-east-1' }), TARGET),
  }),
  claimNames: CLAIMS,
  logger: new Logger({ serviceName: 'test' }),
  metrics: new Metrics({ namespace: 'test' }),
});
const call = async (method: string, path: string, body?: unknown) => {
  const res = await api(httpEvent(method, path, { principal: principals.admin, body }));
  return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Record<string, unknown>) : undefined };
};
const PATH = '/v1/orgs/acmecorp/drift-schedules/nightly';
const schedule = (o: Record<string, unknown> = {}) => ({
  selector: { level: 'environment', org: 'acmecorp', env: 'production' },
  schedule: 'cron(0 3 * * ? *)',
  remediate: 'plan',
  ...o,
});

beforeEach(() => {
  scheduler.reset();
  catalog.items.clear();
});

it('creates the schedule on the first PUT, updates it on the second, and deletes it on DELETE', async () => {
  expect((await call('PUT', PATH, schedule())).status).toBe(201);
  expect(scheduler.commandCalls(CreateScheduleCommand)).toHaveLength(1);
  const created = scheduler.commandCalls(CreateScheduleCommand)[0].args[0].input;
  expect(created).toMatchObject({
    Name: scheduleNameOf('acmecorp', 'nightly'),
    GroupName: TARGET.groupName,
    ScheduleExpression: 'cron(0 3 * * ? *)',
    ScheduleExpressionTimezone: 'UTC',
    FlexibleTimeWindow: { Mode: 'OFF' },
    Target: { Arn: TARGET.functionArn, RoleArn: TARGET.roleArn },
  });
  expect(JSON.parse(created.Target!.Input!)).toEqual({ org: 'acmecorp', scheduleId: 'nightly' });
  expect(created.Name).toMatch(/^[0-9A-Za-z_.-]{1,64}$/);
  expect(scheduler.commandCalls(UpdateScheduleCommand)).toHaveLength(0);

  expect((await call('PUT', PATH, schedule({ schedule: 'rate(6 hours)' }))).status).toBe(200);
  expect(scheduler.commandCalls(CreateScheduleCommand)).toHaveLength(1);
  expect(scheduler.commandCalls(UpdateScheduleCommand)).toHaveLength(1);
  expect(scheduler.commandCalls(UpdateScheduleCommand)[0].args[0].input).toMatchObject({ Name: created.Name, ScheduleExpression: 'rate(6 hours)' });

  expect((await call('DELETE', PATH)).status).toBe(204);
  expect(scheduler.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input)).toEqual([{ Name: created.Name, GroupName: TARGET.groupName }]);
  expect(catalog.items.size).toBe(0);
});

it('calls Scheduler not at all when the body is refused (schema, a path mismatch, an expression Scheduler and local mode cannot both run)', async () => {
  for (const body of [
    schedule({ schedule: 'every day' }),
    schedule({ schedule: 'cron(0 3 * * * *)' }), // both day fields set: Scheduler refuses it
    schedule({ schedule: 'cron(0 3 L * ? *)' }),
    schedule({ selector: { level: 'environment', org: 'globex', env: 'production' } }),
    schedule({ secretAccessKey: 'x' }),
  ]) {
    const res = await call('PUT', PATH, body);
    expect({ body, status: res.status }).toEqual({ body, status: 400 });
  }
  expect(scheduler.calls()).toHaveLength(0);
  expect(catalog.items.size).toBe(0);
});

it('puts Scheduler right when an earlier call failed after the catalog write: a replace of a missing schedule creates it, a create of an existing one updates it, a delete of a missing one succeeds', async () => {
  scheduler.on(CreateScheduleCommand).rejectsOnce(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
  expect((await call('PUT', PATH, schedule())).status).toBe(500);
  expect(catalog.items.size).toBe(1);
  // The retried PUT replaces the entry: UpdateSchedule finds nothing, so it creates.
  scheduler.reset();
  scheduler.on(UpdateScheduleCommand).rejects(Object.assign(new Error('nope'), { name: 'ResourceNotFoundException' }));
  expect((await call('PUT', PATH, schedule())).status).toBe(200);
  expect(scheduler.commandCalls(CreateScheduleCommand)).toHaveLength(1);

  scheduler.reset();
  catalog.items.clear();
  scheduler.on(CreateScheduleCommand).rejects(Object.assign(new Error('exists'), { name: 'ConflictException' }));
  expect((await call('PUT', PATH, schedule())).status).toBe(201);
  expect(scheduler.commandCalls(UpdateScheduleCommand)).toHaveLength(1);

  scheduler.reset();
  scheduler.on(DeleteScheduleCommand).rejects(Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' }));
  expect((await call('DELETE', PATH)).status).toBe(204);
  // A DELETE of an entry that is gone still removes a schedule left behind, then answers 404.
  expect((await call('DELETE', PATH)).status).toBe(404);
  expect(scheduler.commandCalls(DeleteScheduleCommand)).toHaveLength(2);
});

it('leaves Scheduler alone for every other catalog kind', async () => {
  expect(
    (
      await call('PUT', '/v1/orgs/acmecorp/org-settings/acmecorp', {
        approvalChannels: { production: 'C0PROD' },
      })
    ).status,
  ).toBe(201);
  expect(scheduler.calls()).toHaveLength(0);
});
