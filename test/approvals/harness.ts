/**
 * The approval routes on a real dynalite jobs table, with the real lifecycle (lock, preview, approval request) and
 * recording fakes at the edges: Step Functions task responses, ECS StopTask, Slack, response_url, EventBridge.
 * Every API exchange (except Slack's form posts) is checked against docs/openapi.json.
 */
import { callerAccess } from '../../lambdas/http/principal';
import { createHmac } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { documentClient } from '../../lambdas/adapters/dynamodb/client';
import { SlackLinkRepository } from '../../lambdas/adapters/dynamodb/slack-link-repository';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { LockRepository } from '../../lambdas/adapters/dynamodb/lock-repository';
import { ResourceStatusRepository } from '../../lambdas/adapters/dynamodb/resource-status-repository';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { TABLES } from '../../lambdas/adapters/dynamodb/table-definitions';
import { createApi } from '../../lambdas/api/api-app';
import { approvalRoutesWith, type ApprovalRoutesDeps } from '../../lambdas/api/approval-routes';
import { jobRoutes } from '../../lambdas/api/job-routes';
import { submitChange, type SubmissionDeps } from '../../lambdas/app/submit-change';
import type {
  ApprovalMetrics,
  ResponseUrlPoster,
  RunnerTaskStopper,
  SlackMessage,
  SlackNotice,
  SlackPoster,
  TaskResponder,
} from '../../lambdas/approvals/ports';
import type { ApprovalNotifier } from '../../lambdas/approvals/request';
import { APPROVE_ACTION } from '../../lambdas/approvals/slack-message';
import type { EventPublisher } from '../../lambdas/domain/ports';
import type { FlowControlPolicy, ResourceChange, StackJob } from '../../lambdas/domain/schemas';
import { handleApprovalRequest } from '../../lambdas/workflow/approval';
import { acquireLock, recordPreview, type WorkflowDeps } from '../../lambdas/workflow/lifecycle';
import type { WorkflowMetrics } from '../../lambdas/workflow/metrics';
import { createTables, LOCAL_CREDENTIALS, startEmbeddedDynamo, type EmbeddedDynamo } from '../../local/embedded-dynamo';
import { CLAIMS, httpEvent, type CallOptions } from '../support/api-harness';
import { change, fixedClock, MemoryCatalog, NOW, policy, preflightDeps, standardCatalog } from '../support/domain-fixtures';
import { ulidIds } from '../../lambdas/domain/ids';
import { openApiValidator } from '../support/openapi-validator';
import { ApprovalItemRepository } from '../../lambdas/adapters/dynamodb/approval-item-repository';
import { IdempotencyRepository } from '../../lambdas/adapters/dynamodb/idempotency-repository';

export const SIGNING_SECRET = 'slack-signing-secret-for-tests-8f14e45f';
export const SLACK_APPROVER = 'U0APPROVER1';
export const SLACK_AUTHOR = 'U0AUTHOR01';
export const SLACK_STAGING_ONLY = 'U0STAGING1';
export const SLACK_UNMAPPED = 'U0STRANGER';
/** The deployment's Slack workspace (stackjobs:slackTeamId). */
export const SLACK_TEAM = 'T0ACME';

/** Where the test clicks ask Slack to post the reply (recorded in `responses`). */
export const RESPONSE_URL = 'https://hooks.slack.com/actions/T0ACME/1234/abcdef';

/**
 * A click on an approval message's button, signed as Slack signs it; `at`, `secret` and `base64` send it at another
 * time, signed with another secret, or base64-encoded as API Gateway may pass it.
 */
export function slackClick(
  h: Harness,
  approvalId: string,
  slackUser: string,
  action = APPROVE_ACTION,
  o: { at?: number; secret?: string; base64?: boolean } = {},
) {
  const payload = {
    type: 'block_actions',
    user: { id: slackUser, username: 'someone' },
    team: { id: SLACK_TEAM },
    response_url: RESPONSE_URL,
    actions: [{ action_id: action, value: approvalId, block_id: 'stackjobs_decision' }],
  };
  const rawBody = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = String(Math.floor((o.at ?? h.clock.now().getTime()) / 1000));
  const signature = `v0=${createHmac('sha256', o.secret ?? SIGNING_SECRET)
    .update(`v0:${ts}:${rawBody}`)
    .digest('hex')}`;
  return h.call('POST', '/v1/slack/interactions', {
    principal: null,
    rawBody,
    base64: o.base64,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': signature },
  });
}

export const people = {
  approver: { subject: 'approver@acmecorp.example', orgs: ['acmecorp'], roles: ['approver' as const] },
  author: { subject: 'user@company.com', orgs: ['acmecorp'], roles: ['approver' as const, 'operator' as const] },
  stagingApprover: { subject: 'staging-approver@acmecorp.example', orgs: ['acmecorp'], roles: ['approver' as const] },
  operator: { subject: 'ops@acmecorp.example', orgs: ['acmecorp'], roles: ['operator' as const] },
  viewer: { subject: 'viewer@acmecorp.example', orgs: ['acmecorp'], roles: ['viewer' as const] },
  globexApprover: { subject: 'approver@globex.example', orgs: ['globex'], roles: ['approver' as const, 'operator' as const] },
  admin: { subject: 'admin@acmecorp.example', orgs: ['acmecorp'], roles: ['admin' as const] },
  globexAdmin: { subject: 'admin@globex.example', orgs: ['globex'], roles: ['admin' as const] },
};

/** The production policy of the tests: named approvers (one only for staging), distinct approver required. */
export const productionPolicy = (o: Partial<FlowControlPolicy> = {}): FlowControlPolicy =>
  policy({
    id: 'acmecorp-approvals',
    selector: { level: 'organization', org: 'acmecorp' },
    approvers: [
      { subject: people.approver.subject },
      { subject: people.author.subject },
      { subject: people.stagingApprover.subject, environments: ['staging'] },
    ],
    requireDistinctApprover: true,
    approvalTimeoutMinutes: 60,
    ...o,
  });

export class RecordingTasks implements TaskResponder {
  readonly calls: { kind: 'succeed' | 'fail'; token: string; error?: string; cause?: string; output?: unknown }[] = [];
  /** Set to make the next calls fail with this SFN error name. */
  failWith?: string;
  /** Resolves each call after this many ms, so concurrent decisions overlap. */
  delayMs = 0;
  async succeed(token: string, output: Record<string, unknown>) {
    await this.gate();
    this.calls.push({ kind: 'succeed', token, output });
  }
  async fail(token: string, error: string, cause: string) {
    await this.gate();
    this.calls.push({ kind: 'fail', token, error, cause });
  }
  private async gate() {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failWith) throw Object.assign(new Error(this.failWith), { name: this.failWith });
  }
}

export class RecordingSlack implements SlackPoster {
  readonly posted: SlackMessage[] = [];
  down = false;
  /** The conversation id Slack answers with (the request may name a channel or user another way). */
  answerChannel?: string;
  /** Runs while the post is in flight (before it returns), to interleave a decision with it. */
  onPost?: () => Promise<void>;
  async post(m: SlackMessage) {
    await this.onPost?.();
    if (this.down)
      throw Object.assign(new Error('An API error occurred: invalid_auth'), {
        name: 'Error',
        code: 'slack_webapi_platform_error',
        data: { error: 'invalid_auth' },
      });
    this.posted.push(JSON.parse(JSON.stringify(m)) as SlackMessage);
    return { ts: `1700000000.${String(this.posted.length).padStart(6, '0')}`, ...(this.answerChannel ? { channel: this.answerChannel } : {}) };
  }
  readonly updated: { notice: SlackNotice; message: Omit<SlackMessage, 'channel'> }[] = [];
  async update(notice: SlackNotice, message: Omit<SlackMessage, 'channel'>) {
    if (this.down)
      throw Object.assign(new Error('An API error occurred: message_not_found'), {
        name: 'Error',
        code: 'slack_webapi_platform_error',
        data: { error: 'message_not_found' },
      });
    this.updated.push(JSON.parse(JSON.stringify({ notice, message })) as RecordingSlack['updated'][number]);
  }
}

export interface Harness {
  dynamo: EmbeddedDynamo;
  jobs: JobRepository;
  approvalItems: ApprovalItemRepository;
  locks: LockRepository;
  catalog: MemoryCatalog;
  clock: ReturnType<typeof fixedClock>;
  tasks: RecordingTasks;
  slack: RecordingSlack;
  stopped: { arn: string; reason: string }[];
  /** Jobs whose workflow execution is gone (DescribeExecution: not running). */
  goneExecutions: Set<string>;
  responses: { url: string; body: Record<string, unknown> }[];
  events: { detailType: string; detail: Record<string, unknown> }[];
  logs: string[];
  counts: { slackPostFailed: number; slackUpdateFailed: number; decided: number };
  /** Everything an outsider could see: API bodies, Slack requests, response_url posts, events and log lines. */
  observed(): string;
  workflow: WorkflowDeps;
  notifier: ApprovalNotifier;
  submission: SubmissionDeps;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read bodies by value; the contract is checked per exchange
  call(method: string, path: string, o?: CallOptions): Promise<APIGatewayProxyStructuredResultV2 & { json: () => any }>;
  submit(c?: ResourceChange): Promise<StackJob>;
  /** Drives a submitted job through lock, preview and the real approval request (with `token`). */
  toAwaitingApproval(jobId: string, token: string): Promise<StackJob>;
  slackLinks: SlackLinkRepository;
  /** Every item of the jobs table, in key order: what a refused request must leave unchanged. */
  dumpTable(): Promise<string>;
  stop(): Promise<void>;
}

let seq = 0;
const apiBodies: string[] = [];

export async function startHarness(): Promise<Harness> {
  const dynamo = await startEmbeddedDynamo();
  const table = `approvals_jobs_${++seq}`;
  await createTables(dynamo.endpoint, { [table]: TABLES.jobs });
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const clock = fixedClock(NOW);
  const jobs = new JobRepository(db, table);
  const approvalItems = new ApprovalItemRepository(db, table);
  const idempotency = new IdempotencyRepository(db, table);
  const locks = new LockRepository(db, table, () => clock.now());
  const resources = new ResourceStatusRepository(db, table);
  const catalog = standardCatalog()
    .add('flow-control-policies', 'acmecorp', productionPolicy())
    .add('org-settings', 'acmecorp', {
      org: 'acmecorp',
      requireLiveCredentialValidation: false,
      approvalChannels: { production: 'C0PRODAPPROVALS' },
    });
  // Slack accounts linked (and proven) by the people themselves (PUT /v1/me/slack-links with a code records their roles); SLACK_UNMAPPED has none.
  const slackLinks = new SlackLinkRepository(db, table);
  for (const [userId, person] of [
    [SLACK_APPROVER, people.approver],
    [SLACK_AUTHOR, people.author],
    [SLACK_STAGING_ONLY, people.stagingApprover],
  ] as const) {
    const orgRoles = Object.fromEntries(callerAccess(person).orgs.map((o) => [o.org, o.roles]));
    await slackLinks.put({
      teamId: SLACK_TEAM,
      userId,
      subject: person.subject,
      linkedBy: person.subject,
      linkedAt: NOW.toISOString(),
      via: 'self',
      provenAt: NOW.toISOString(),
      orgRoles,
    });
  }
  const tasks = new RecordingTasks();
  const slack = new RecordingSlack();
  const stopped: Harness['stopped'] = [];
  const responses: Harness['responses'] = [];
  const events: Harness['events'] = [];
  const logs: string[] = [];
  const counts = { slackPostFailed: 0, slackUpdateFailed: 0, decided: 0 };
  const logger = new Logger({ serviceName: 'approvals-test', logLevel: 'DEBUG' });
  (logger as unknown as { console: Record<string, (s: string) => void> }).console = {
    info: (s) => logs.push(s),
    warn: (s) => logs.push(s),
    error: (s) => logs.push(s),
    debug: (s) => logs.push(s),
  };
  const publisher: EventPublisher = {
    publish: async (detailType, detail) => void events.push({ detailType, detail: JSON.parse(JSON.stringify(detail)) as Record<string, unknown> }),
  };
  const metrics: ApprovalMetrics = {
    slackPostFailed: () => void counts.slackPostFailed++,
    slackUpdateFailed: () => void counts.slackUpdateFailed++,
    decided: () => void counts.decided++,
  };
  const workflowMetrics: WorkflowMetrics = { jobCompleted: () => undefined };
  // Real ULIDs: the fixtures' sequential ids leave the job-id alphabet after a few dozen jobs.
  const ids = ulidIds(clock);
  const submission: SubmissionDeps = { jobs, idempotency, preflight: preflightDeps({ catalog, clock }), starter: { start: async () => undefined }, ids, clock };
  const stopper: RunnerTaskStopper = { stop: async (arn, reason) => void stopped.push({ arn, reason }) };
  const workflow: WorkflowDeps = {
    jobs,
    approvalItems,
    locks,
    resources,
    events: publisher,
    clock,
    ids,
    metrics: workflowMetrics,
    leaseMarginSeconds: 7 * 3600,
    runnerTasks: stopper,
    tasks,
  };
  const notifier: ApprovalNotifier = {
    catalog,
    slack,
    links: async () => ({
      planUrl: 'https://artifacts.example/plan.json?X-Amz-Signature=abc',
      logsUrl: 'https://artifacts.example/plan.log?X-Amz-Signature=def',
      expiresAt: '2026-11-27T13:00:00.000Z',
    }),
    log: logger,
    metrics,
  };
  const respond: ResponseUrlPoster = {
    post: async (url, body) => void responses.push({ url, body: JSON.parse(JSON.stringify(body)) as Record<string, unknown> }),
  };
  // The jobs whose execution a test made disappear (a cancel then ends them interrupted).
  const goneExecutions = new Set<string>();
  const deps: ApprovalRoutesDeps = {
    jobs,
    approvalItems,
    catalog,
    locks,
    resources,
    events: publisher,
    tasks,
    runnerTasks: stopper,
    executions: { isRunning: async (jobId) => !goneExecutions.has(jobId) },
    respond,
    submission,
    signingSecret: async () => SIGNING_SECRET,
    clock,
    log: logger,
    metrics,
    workflowMetrics,
    slack,
    slackLinks,
    slackTeamId: SLACK_TEAM,
  };
  const apiMetrics = new Metrics({ namespace: 'StackJobsTest', serviceName: 'approvals' });
  // Submission through the API too, so the authenticated submitter is recorded as in production.
  const routes = [...jobRoutes({ jobs, submission, logger, metrics: apiMetrics }), ...approvalRoutesWith(() => deps)];
  const api = createApi({ routes, claimNames: CLAIMS, logger, metrics: apiMetrics });
  const h: Harness = {
    dynamo,
    jobs,
    approvalItems,
    locks,
    catalog,
    clock,
    tasks,
    slack,
    stopped,
    goneExecutions,
    responses,
    events,
    logs,
    counts,
    workflow,
    notifier,
    submission,
    observed: () =>
      [
        ...apiBodies,
        ...slack.posted.map((m) => JSON.stringify(m)),
        ...slack.updated.map((u) => JSON.stringify(u)),
        ...responses.map((r) => JSON.stringify(r)),
        ...events.map((e) => JSON.stringify(e)),
        ...logs,
      ].join('\n'),
    async call(method, path, o = {}) {
      const event = httpEvent(method, path, o);
      const res = await api(event);
      apiBodies.push(res.body ?? '');
      if (!path.startsWith('/v1/slack/')) {
        openApiValidator().assert({
          method,
          path,
          request: {
            contentType: event.headers['content-type'],
            rawBody: event.body && (o.base64 ? Buffer.from(event.body, 'base64').toString('utf8') : event.body),
          },
          response: res,
        });
      }
      return { ...res, json: () => (res.body ? JSON.parse(res.body) : undefined) };
    },
    async submit(c = change()) {
      const outcome = await submitChange(c, submission);
      if (outcome.kind === 'rejected') throw new Error(`pre-flight failed: ${JSON.stringify(outcome.checks)}`);
      return outcome.job;
    },
    async toAwaitingApproval(jobId, token) {
      const lock = await acquireLock(workflow, jobId, 0);
      if (lock.outcome !== 'acquired') throw new Error(`lock not acquired: ${lock.outcome}`);
      const gate = await recordPreview(workflow, jobId, {
        phase: 'preview',
        hasChanges: true,
        summary: {
          add: 1,
          change: 1,
          destroy: 1,
          replace: 1,
          unchanged: 3,
          read: 0,
          forget: 0,
          import: 0,
          outputChanges: 0,
          resources: [
            { address: 'aws_eks_node_group.main', actions: ['update'] },
            { address: 'aws_launch_template.nodes', actions: ['delete', 'create'] },
            { address: 'aws_security_group.legacy', actions: ['delete'] },
            { address: 'aws_iam_role.extra', actions: ['create'] },
          ],
        },
        planDigest: 'a'.repeat(64),
        planKey: `jobs/${jobId}/plan/plan.bin`,
        logPrefix: `jobs/${jobId}/logs/`,
        durations: { plan: 1 },
      });
      if (gate.next !== 'approval') throw new Error(`expected the approval gate, got ${gate.next}`);
      await handleApprovalRequest(
        workflow,
        { jobId, taskToken: token, planDigest: gate.planDigest, approvalTimeoutSeconds: gate.approvalTimeoutSeconds },
        notifier,
      );
      return (await jobs.require(jobId)).job;
    },
    slackLinks,
    async dumpTable() {
      const out = await db.send(new ScanCommand({ TableName: table, ConsistentRead: true }));
      return JSON.stringify((out.Items ?? []).sort((a, b) => `${a.pk}${a.sk}`.localeCompare(`${b.pk}${b.sk}`)));
    },
    async stop() {
      db.destroy();
      await dynamo.stop();
    },
  };
  return h;
}

/** A change per test, so stacks and idempotency keys never collide. */
export function changeFor(n: string, o: { env?: string; createdBy?: string } = {}): ResourceChange {
  return change({
    resource: { id: `eks_${n.padStart(26, '0')}`.slice(0, 30), env: o.env ?? 'production', version: { id: `ver-${n}`, message: `change ${n}` } },
    ...(o.createdBy ? { createdBy: o.createdBy } : {}),
  });
}
