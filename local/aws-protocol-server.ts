/**
 * One loopback endpoint speaking the AWS JSON protocol (X-Amz-Target) for the services local mode stands in for:
 * Step Functions (executions and task tokens), Secrets Manager (GetSecretValue from the local config) and
 * EventBridge (PutEvents, kept for GET /v1/events). Point AWS_ENDPOINT_URL_SFN / _SECRETS_MANAGER / _EVENTBRIDGE
 * at it and the unchanged SDK clients — or the AWS CLI — talk to it. STS speaks the query protocol (form-encoded
 * `Action=…`, XML answers) on the same endpoint (AWS_ENDPOINT_URL_STS): GetCallerIdentity and AssumeRole for access
 * keys the local config holds, so pre-flight's live validation and the runner's role assumption run offline.
 */
import { createHash, randomBytes } from 'node:crypto';
import { verifySigV4 } from './sigv4';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServiceError, type LocalStepFunctions } from './step-functions';
import { jsonActionOf } from './local-iam';

export interface PublishedEvent {
  time: string;
  source: string;
  detailType: string;
  detail: unknown;
  eventBusName?: string;
}

export interface ProtocolServerOptions {
  sfn: () => LocalStepFunctions;
  secrets: Record<string, string>;
  /** Each secret's value before its last rotation (the AWSPREVIOUS stage), for the secrets rotated (LocalMode.rotateSecret). */
  previousSecrets?: Record<string, string>;
  onEvent?: (e: PublishedEvent) => void;
  /** ECS StopTask, used by cancellation: stops the local runner process of that task. */
  stopTask?: (taskArn: string, reason?: string) => Promise<boolean>;
  /** Access key ids STS accepts besides the known ones (local mode's own credentials). */
  stsAccessKeys?: string[];
  /** The access key ids STS knows; unset, every key pair found in `secrets`. */
  stsKnownKeys?: string[];
  /**
   * Local mode's per-run credentials: when set, every request must carry a valid SigV4 signature — by these for the
   * JSON services, by these, a known key pair of the config or a session STS issued for STS. Unset (a test's own
   * server), signatures are not checked.
   */
  runCredentials?: { accessKeyId: string; secretAccessKey: string };
  /** The runner's own credentials (local mode): accepted as the run's are, so its requests can be told apart. */
  runnerCredentials?: { accessKeyId: string; secretAccessKey: string };
  /**
   * Local IAM: why the caller of this request may not perform `action` (an IAM action, e.g. states:SendTaskSuccess),
   * in AWS's words; undefined when it may. Asked after the signature is verified.
   */
  authorize?: (action: string, req: IncomingMessage) => string | undefined;
}

const LOCAL_ACCOUNT = '000000000000';
const xmlEscape = (v: string) => v.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
const xml = (tag: string, fields: Record<string, string | Record<string, string>>): string =>
  `<${tag}>${Object.entries(fields)
    .map(([k, v]) => (typeof v === 'string' ? `<${k}>${xmlEscape(v)}</${k}>` : xml(k, v)))
    .join('')}</${tag}>`;

/** Every AWS key pair in the local secrets (JSON {accessKeyId, secretAccessKey}), by access key id. */
function knownKeyPairs(secrets: Record<string, string>): Map<string, string> {
  const keys = new Map<string, string>();
  for (const raw of Object.values(secrets)) {
    try {
      const v = JSON.parse(raw) as { accessKeyId?: unknown; secretAccessKey?: unknown };
      if (typeof v.accessKeyId === 'string' && typeof v.secretAccessKey === 'string') keys.set(v.accessKeyId, v.secretAccessKey);
    } catch {
      // not JSON: not a key pair
    }
  }
  return keys;
}

/** STS over the query protocol: who signed (the access key id in SigV4's Credential scope) decides. */
function stsAnswer(form: URLSearchParams, authorization: string, accepted: Set<string>, issued: Map<string, string>): { status: number; body: string } {
  const keyId = /Credential=([^/]+)\//.exec(authorization)?.[1] ?? '';
  const ns = 'https://sts.amazonaws.com/doc/2011-06-15/';
  const error = (status: number, code: string, message: string) => ({
    status,
    body: `<ErrorResponse xmlns="${ns}">${xml('Error', { Type: 'Sender', Code: code, Message: message })}<RequestId>local</RequestId></ErrorResponse>`,
  });
  if (!accepted.has(keyId) && !issued.has(keyId)) return error(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
  const action = form.get('Action');
  if (action === 'GetCallerIdentity') {
    const arn = issued.has(keyId) ? `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/local/${keyId}` : `arn:aws:iam::${LOCAL_ACCOUNT}:user/${keyId}`;
    return {
      status: 200,
      body: `<GetCallerIdentityResponse xmlns="${ns}">${xml('GetCallerIdentityResult', { Arn: arn, UserId: keyId, Account: LOCAL_ACCOUNT })}</GetCallerIdentityResponse>`,
    };
  }
  if (action === 'AssumeRole') {
    const role = form.get('RoleArn') ?? '';
    const m = /^arn:aws:iam::(\d{12}):role\/(.+)$/.exec(role);
    if (!m) return error(400, 'ValidationError', `${role} is not a role ARN`);
    const session = form.get('RoleSessionName') ?? 'local';
    const seconds = Number(form.get('DurationSeconds') ?? 3600);
    if (!(seconds >= 900 && seconds <= 43200)) return error(400, 'ValidationError', 'DurationSeconds must be between 900 and 43200');
    const accessKeyId = `ASIALOCAL${createHash('sha256').update(randomBytes(16)).digest('hex').slice(0, 11).toUpperCase()}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    issued.set(accessKeyId, secretAccessKey);
    const credentials = {
      AccessKeyId: accessKeyId,
      SecretAccessKey: secretAccessKey,
      SessionToken: randomBytes(60).toString('base64'),
      Expiration: new Date(Date.now() + seconds * 1000).toISOString(),
    };
    const user = { Arn: `arn:aws:sts::${m[1]}:assumed-role/${m[2].split('/').pop()}/${session}`, AssumedRoleId: `AROALOCAL:${session}` };
    return {
      status: 200,
      body: `<AssumeRoleResponse xmlns="${ns}">${xml('AssumeRoleResult', { Credentials: credentials, AssumedRoleUser: user })}</AssumeRoleResponse>`,
    };
  }
  return error(400, 'InvalidAction', `local mode's STS does not implement ${action ?? 'this action'}`);
}

export interface ProtocolServer {
  endpoint: string;
  events: PublishedEvent[];
  stop(): Promise<void>;
}

type Handler = (body: Record<string, unknown>) => Promise<unknown> | unknown;

async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function parseBody(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ServiceError('SerializationException', 'the request body is not JSON');
  }
}

export async function startProtocolServer(options: ProtocolServerOptions, port = 0): Promise<ProtocolServer> {
  const events: PublishedEvent[] = [];
  const s = (b: Record<string, unknown>) => b as never;
  const handlers: Record<string, Handler> = {
    'AWSStepFunctions.StartExecution': (b) => options.sfn().startExecution(s(b)),
    'AWSStepFunctions.DescribeExecution': (b) => options.sfn().describeExecution(s(b)),
    'AWSStepFunctions.StopExecution': (b) => options.sfn().stopExecution(s(b)),
    'AWSStepFunctions.SendTaskSuccess': (b) => options.sfn().sendTaskSuccess(s(b)),
    'AWSStepFunctions.SendTaskFailure': (b) => options.sfn().sendTaskFailure(s(b)),
    'AWSStepFunctions.SendTaskHeartbeat': (b) => options.sfn().sendTaskHeartbeat(s(b)),
    'secretsmanager.GetSecretValue': (b) => {
      const id = String(b.SecretId ?? '');
      const value = options.secrets[id];
      if (value === undefined) throw new ServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret: ${id}`);
      // The current value, and the one before the last rotation for a secret rotated; a secret never rotated has no
      // AWSPREVIOUS version, as in Secrets Manager.
      const stage = b.VersionStage === undefined ? 'AWSCURRENT' : String(b.VersionStage);
      const staged = stage === 'AWSCURRENT' ? value : stage === 'AWSPREVIOUS' ? options.previousSecrets?.[id] : undefined;
      if (staged === undefined)
        throw new ServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${stage}`);
      return { ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${id}`, Name: id, SecretString: staged, VersionId: `local-${stage}` };
    },
    'AWSEvents.PutEvents': (b) => {
      const entries = (b.Entries as { Source?: string; DetailType?: string; Detail?: string; EventBusName?: string }[]) ?? [];
      for (const e of entries) {
        const event: PublishedEvent = {
          time: new Date().toISOString(),
          source: e.Source ?? '',
          detailType: e.DetailType ?? '',
          detail: JSON.parse(e.Detail ?? '{}'),
          eventBusName: e.EventBusName,
        };
        events.push(event);
        options.onEvent?.(event);
      }
      return { FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `local-${events.length - entries.length + i}` })) };
    },
    'AmazonEC2ContainerServiceV20141113.StopTask': async (b) => {
      const stopped = (await options.stopTask?.(String(b.task ?? ''), b.reason as string | undefined)) ?? false;
      if (!stopped) throw new ServiceError('InvalidParameterException', `task ${String(b.task)} is not running`);
      return { task: { taskArn: b.task, lastStatus: 'STOPPING' } };
    },
  };

  const issuedKeys = new Map<string, string>();
  const pairs = knownKeyPairs(options.secrets);
  const run = options.runCredentials;
  const runner = options.runnerCredentials;
  const stsKnown = new Set([
    ...(options.stsKnownKeys ?? pairs.keys()),
    ...(options.stsAccessKeys ?? []),
    ...(run ? [run.accessKeyId] : []),
    ...(runner ? [runner.accessKeyId] : []),
  ]);
  /** The secret of a key this endpoint answers: the run's and the runner's for every service; for STS also known pairs and issued sessions. */
  const secretFor = (sts: boolean) => (id: string) =>
    id === run?.accessKeyId
      ? run.secretAccessKey
      : id === runner?.accessKeyId
        ? runner.secretAccessKey
        : sts
          ? (issuedKeys.get(id) ?? (stsKnown.has(id) ? pairs.get(id) : undefined))
          : undefined;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (!target && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const body = Buffer.concat(chunks);
        if (run && !(await verifySigV4({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body }, secretFor(true)))) {
          res.writeHead(403, { 'content-type': 'text/xml' });
          res.end(
            `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error></ErrorResponse>`,
          );
          return;
        }
        const form = new URLSearchParams(body.toString('utf8'));
        const denied = options.authorize?.(`sts:${form.get('Action') ?? ''}`, req);
        if (denied) {
          res.writeHead(403, { 'content-type': 'text/xml' });
          res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>${xmlEscape(denied)}</Message></Error></ErrorResponse>`);
          return;
        }
        const answer = stsAnswer(form, String(req.headers.authorization ?? ''), stsKnown, issuedKeys);
        res.writeHead(answer.status, { 'content-type': 'text/xml' });
        res.end(answer.body);
        return;
      }
      const contentType = target.startsWith('AWSStepFunctions.') ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1';
      try {
        const handler = handlers[target];
        if (!handler) throw new ServiceError('UnknownOperationException', `local mode does not implement ${target || 'this operation'}`);
        const raw = await readRaw(req);
        if (run && !(await verifySigV4({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body: raw }, secretFor(false)))) {
          throw new ServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.');
        }
        const action = jsonActionOf(target);
        const denied = action ? options.authorize?.(action, req) : undefined;
        if (denied) throw new ServiceError('AccessDeniedException', denied);
        const result = await handler(parseBody(raw));
        res.writeHead(200, { 'content-type': contentType });
        res.end(JSON.stringify(result ?? {}));
      } catch (e) {
        const type = e instanceof ServiceError ? e.type : 'InternalFailure';
        const message = e instanceof ServiceError ? e.message : 'local mode failed to handle the request';
        res.writeHead(e instanceof ServiceError ? 400 : 500, { 'content-type': contentType, 'x-amzn-errortype': type });
        res.end(JSON.stringify({ __type: type, message }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${bound}`,
    events,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
