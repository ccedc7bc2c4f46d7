/**
 * One loopback endpoint speaking the AWS JSON protocol (X-Amz-Target) for the services local mode stands in for:
 * Step Functions (executions and task tokens), Secrets Manager (GetSecretValue from the local config) and
 * EventBridge (PutEvents, kept for GET /v1/events). Point AWS_ENDPOINT_URL_SFN / _SECRETS_MANAGER / _EVENTBRIDGE
 * at it and the unchanged SDK clients — or the AWS CLI — talk to it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServiceError, type LocalStepFunctions } from './step-functions';

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
  onEvent?: (e: PublishedEvent) => void;
  /** ECS StopTask, used by cancellation: stops the local runner process of that task. */
  stopTask?: (taskArn: string, reason?: string) => Promise<boolean>;
}

export interface ProtocolServer {
  endpoint: string;
  events: PublishedEvent[];
  stop(): Promise<void>;
}

type Handler = (body: Record<string, unknown>) => Promise<unknown> | unknown;

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  if (!raw) return {};
  try {
    return JSON.parse(raw) as Record<string, unknown>;
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
      return { ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${id}`, Name: id, SecretString: value, VersionId: 'local' };
    },
    'AWSEvents.PutEvents': (b) => {
      const entries = (b.Entries as { Source?: string; DetailType?: string; Detail?: string; EventBusName?: string }[]) ?? [];
      for (const e of entries) {
        const event: PublishedEvent = { time: new Date().toISOString(), source: e.Source ?? '', detailType: e.DetailType ?? '', detail: JSON.parse(e.Detail ?? '{}'), eventBusName: e.EventBusName };
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

  const server: Server = createServer((req, res) => {
    void (async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const contentType = target.startsWith('AWSStepFunctions.') ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1';
      try {
        const handler = handlers[target];
        if (!handler) throw new ServiceError('UnknownOperationException', `local mode does not implement ${target || 'this operation'}`);
        const result = await handler(await readBody(req));
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
