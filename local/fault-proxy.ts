/**
 * A fault-injecting HTTP proxy for local mode's stand-ins (dynalite, s3rver): every request is forwarded
 * unchanged unless the rule answers it instead, with the error response the real service would send.
 * Rules are plain functions read at request time, so a test can switch a fault on and off while jobs run.
 */
import { createServer, request as httpRequest, Agent, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The caller's port on loopback (local IAM finds which function sent it by this). */
  remotePort?: number;
  /**
   * Sends the request on to the stand-in and gives its answer, for a rule that acts between the stand-in's answer and
   * the caller's (returning it answers the caller with it).
   */
  forward(): Promise<InjectedResponse>;
}

export interface InjectedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Returns a response to inject, or undefined to forward the request to the stand-in. */
export type FaultRule = (req: ProxiedRequest) => InjectedResponse | undefined | Promise<InjectedResponse | undefined>;

export interface FaultProxy {
  endpoint: string;
  /** Requests seen, and how many of them were answered by the rule. */
  stats: { requests: number; injected: number };
  stop(): Promise<void>;
}

export async function startFaultProxy(target: string, rule: FaultRule): Promise<FaultProxy> {
  const to = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const stats = { requests: 0, injected: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void answer());
    const answer = async () => {
      stats.requests++;
      const body = Buffer.concat(chunks);
      const forward = () =>
        new Promise<InjectedResponse>((resolve, reject) => {
          const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent }, (up) => {
            const parts: Buffer[] = [];
            up.on('data', (c: Buffer) => parts.push(c));
            up.on('end', () =>
              resolve({
                status: up.statusCode ?? 502,
                headers: { 'content-type': String(up.headers['content-type'] ?? 'application/octet-stream') },
                body: Buffer.concat(parts).toString('utf8'),
              }),
            );
          });
          upstream.on('error', reject);
          upstream.end(body);
        });
      const injected = await rule({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body, remotePort: req.socket.remotePort, forward });
      if (injected) {
        stats.injected++;
        res.writeHead(injected.status, { ...injected.headers, 'content-length': String(Buffer.byteLength(injected.body)) });
        res.end(injected.body);
        return;
      }
      const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    };
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** DynamoDB's throttling answer (the SDK retries it as a throttling error). */
export function dynamoThrottle(): InjectedResponse {
  return {
    status: 400,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `injected-${Date.now()}` },
    body: JSON.stringify({
      __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
      message: 'The level of configured provisioned throughput for the table was exceeded (injected fault)',
    }),
  };
}

/** S3's "slow down" answer (503, retried by the SDK and by the runner's log sink). */
export function s3SlowDown(): InjectedResponse {
  return {
    status: 503,
    headers: { 'content-type': 'application/xml', 'x-amz-request-id': `injected-${Date.now()}` },
    body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate. (injected fault)</Message></Error>',
  };
}

/** The DynamoDB operation of a request (`X-Amz-Target: DynamoDB_20120810.PutItem` -> `PutItem`). */
export const dynamoOperation = (req: ProxiedRequest): string =>
  String(req.headers['x-amz-target'] ?? '')
    .split('.')
    .pop() ?? '';

/** The SDK's attempt number for this request (`amz-sdk-request: attempt=2; max=3`), 1 when absent. */
export const sdkAttempt = (req: ProxiedRequest): number => Number(/attempt=(\d+)/.exec(String(req.headers['amz-sdk-request'] ?? ''))?.[1] ?? 1);
