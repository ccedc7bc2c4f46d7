/**
 * IAM, as far as local mode can hold it: every request a deployed function or the runner makes to a local stand-in
 * (DynamoDB, S3, Step Functions, Secrets Manager, EventBridge, ECS, STS) must be an action its role allows in the
 * synthesized template, or it gets the AccessDenied answer that service gives. On AWS a missing grant shows only
 * there, often on a path that runs rarely (a timed-out runner that Finish Job must stop); here every test that runs a
 * job through local mode runs that path against the roles it will have.
 *
 * Who is calling: each function's handler runs inside `run(functionId, …)` (an AsyncLocalStorage context), and the
 * HTTP client request it makes is tied to its socket's local port when Node publishes it
 * (`http.client.request.start`), so the stand-in finds the caller by the request's remote port. The runner, a separate
 * process, signs with its own access key id. Anything else (local mode itself, a test's or the bench's own reads) is
 * not a deployed role and is not checked.
 *
 * Held: actions, with IAM's wildcards, from the identity policies attached to the role (an explicit Deny wins), for
 * the functions and the runner. Not held: the state machine's own role (its tasks are bound in process), resources,
 * conditions, KMS, resource policies and service control policies; those stay asserted on the template by the infra
 * tests.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}
interface Statement {
  Effect?: string;
  Action?: string | string[];
}

/** Someone whose requests are checked: a function (by logical id) or the runner task, and what its role allows. */
export interface LocalIdentity {
  name: string;
  role: string;
  allowed: string[];
  /** Explicit Deny statements' actions, which win over any Allow. */
  denied: string[];
}

/** The role's actions of one effect: its inline policies and every AWS::IAM::Policy that names it. */
function actionsOf(resources: Record<string, Resource>, roleId: string, effect: 'Allow' | 'Deny'): string[] {
  const inline = ((resources[roleId]?.Properties?.Policies ?? []) as Array<{ PolicyDocument?: { Statement?: Statement[] } }>).flatMap(
    (p) => p.PolicyDocument?.Statement ?? [],
  );
  const attached = Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && ((r.Properties?.Roles ?? []) as Array<{ Ref?: string }>).some((x) => x.Ref === roleId))
    .flatMap((r) => (r.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? []);
  return [...inline, ...attached].filter((s) => s.Effect === effect).flatMap((s) => [s.Action ?? []].flat());
}

const identity = (resources: Record<string, Resource>, name: string, role: string): LocalIdentity => ({
  name,
  role,
  allowed: actionsOf(resources, role, 'Allow'),
  denied: actionsOf(resources, role, 'Deny'),
});

const roleIdOf = (ref: unknown): string | undefined => (ref as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];

/** Each pattern compiled once: every request to a stand-in is matched against its caller's patterns. */
const compiled = new Map<string, RegExp>();
function regexOf(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    const body = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, 'i');
    compiled.set(pattern, re);
  }
  return re;
}

/** IAM's action match: case-insensitive, `*` and `?` as wildcards. */
export function actionAllowed(patterns: readonly string[], action: string): boolean {
  return patterns.some((p) => regexOf(p).test(action));
}

export class LocalIam {
  private readonly context = new AsyncLocalStorage<LocalIdentity>();
  private readonly byPort = new Map<number, LocalIdentity>();
  private readonly watched = new WeakSet<object>();
  private readonly functions = new Map<string, LocalIdentity>();
  /** The runner task's identity, when the template has one. */
  readonly runner: LocalIdentity | undefined;
  private readonly listener = (message: unknown) => {
    const socket = (message as { request?: ClientRequest }).request?.socket;
    if (!socket) return;
    const who = this.context.getStore();
    // A socket's requests go one at a time: this one is the next the stand-in reads from that port.
    const tie = (port: number | undefined) => {
      if (port === undefined) return;
      if (who) this.byPort.set(port, who);
      else this.byPort.delete(port);
      // A closed socket's port goes back to the OS, which may give it to another process (a runner): forget it.
      if (!this.watched.has(socket)) {
        this.watched.add(socket);
        socket.once('close', () => this.byPort.delete(port));
      }
    };
    // A new connection has no local port until it connects, which is before the stand-in reads anything from it.
    if (socket.localPort !== undefined) tie(socket.localPort);
    else socket.once('connect', () => tie(socket.localPort));
  };

  constructor(resources: Record<string, Resource>, entryKey: string) {
    for (const [id, r] of Object.entries(resources)) {
      if (r.Type !== 'AWS::Lambda::Function' || !r.Metadata?.[entryKey]) continue;
      const role = roleIdOf(r.Properties?.Role);
      if (role) this.functions.set(String(r.Metadata[entryKey]), identity(resources, id, role));
    }
    const task = Object.entries(resources).find(
      ([, r]) =>
        r.Type === 'AWS::ECS::TaskDefinition' && ((r.Properties?.ContainerDefinitions ?? []) as Array<{ Name?: string }>).some((c) => c.Name === 'runner'),
    );
    const taskRole = task && roleIdOf(task[1].Properties?.TaskRoleArn);
    this.runner = taskRole ? identity(resources, task[0], taskRole) : undefined;
    subscribe('http.client.request.start', this.listener);
  }

  stop(): void {
    unsubscribe('http.client.request.start', this.listener);
    this.byPort.clear();
  }

  /** The deployed function whose code is `entry` (its `stackjobs:entry`), if the template has one. */
  functionOf(entry: string): LocalIdentity | undefined {
    return this.functions.get(entry);
  }

  /** Runs `work` as `who`: every AWS request it makes, now or later, is checked against that role. */
  run<T>(who: LocalIdentity | undefined, work: () => T): T {
    return who ? this.context.run(who, work) : work();
  }

  /**
   * Why `action` is refused to the caller of a request from `remotePort` signed by `accessKeyId`, in AWS's words; or
   * undefined when it is allowed, or the caller is not a deployed role.
   */
  denial(action: string, remotePort: number | undefined, accessKeyId: string | undefined, runnerKeyId: string): string | undefined {
    // The runner's key first: it is another process, whose port says nothing about the functions here.
    const who = accessKeyId === runnerKeyId ? this.runner : remotePort !== undefined ? this.byPort.get(remotePort) : undefined;
    if (!who) return undefined;
    const user = `User: arn:aws:sts::000000000000:assumed-role/${who.role}/${who.name} is not authorized to perform: ${action}`;
    if (actionAllowed(who.denied, action)) return `${user} with an explicit deny in an identity-based policy (local mode holds the template's roles)`;
    if (actionAllowed(who.allowed, action)) return undefined;
    return `${user} because no identity-based policy allows the ${action} action (local mode holds the template's roles)`;
  }
}

/**
 * The IAM actions a request to the S3 stand-in needs (path-style: /bucket/key?query): its own, with the subresource
 * it names (tagging, acl, a version, a multipart upload's parts), and for a copy (`x-amz-copy-source`) reading the
 * source too.
 */
export function s3ActionsOf(method: string, url: string, copySource?: string): string[] {
  const u = new URL(url, 'http://local');
  const [, , ...key] = u.pathname.split('/');
  const hasKey = key.join('/').length > 0;
  const q = u.searchParams;
  const read = method === 'GET' || method === 'HEAD';
  const verb = read ? 'Get' : method === 'DELETE' ? 'Delete' : 'Put';
  if (!hasKey) {
    if (method === 'POST' && q.has('delete')) return ['s3:DeleteObject'];
    if (read && q.has('uploads')) return ['s3:ListBucketMultipartUploads'];
    if (read && q.has('versions')) return ['s3:ListBucketVersions'];
    if (read && q.has('location')) return ['s3:GetBucketLocation'];
    return [read ? 's3:ListBucket' : `s3:${verb}Bucket`];
  }
  if (q.has('tagging')) return [`s3:${verb}Object${q.has('versionId') ? 'Version' : ''}Tagging`];
  if (q.has('acl')) return [`s3:${verb}Object${q.has('versionId') ? 'Version' : ''}Acl`];
  if (q.has('uploadId')) return [method === 'DELETE' ? 's3:AbortMultipartUpload' : read ? 's3:ListMultipartUploadParts' : 's3:PutObject'];
  if (read) return [q.has('versionId') ? 's3:GetObjectVersion' : 's3:GetObject'];
  if (method === 'DELETE') return [q.has('versionId') ? 's3:DeleteObjectVersion' : 's3:DeleteObject'];
  return copySource ? ['s3:PutObject', /[?&]versionId=/.test(copySource) ? 's3:GetObjectVersion' : 's3:GetObject'] : ['s3:PutObject'];
}

/** The IAM action of a JSON-protocol request (`X-Amz-Target: AWSStepFunctions.SendTaskSuccess` -> states:SendTaskSuccess). */
export function jsonActionOf(target: string): string | undefined {
  const [service, operation] = target.split('.');
  const prefix: Record<string, string> = {
    AWSStepFunctions: 'states',
    secretsmanager: 'secretsmanager',
    AWSEvents: 'events',
    AmazonEC2ContainerServiceV20141113: 'ecs',
    DynamoDB_20120810: 'dynamodb',
  };
  return prefix[service] && operation ? `${prefix[service]}:${operation}` : undefined;
}

/** The access key id a SigV4 Authorization header names. */
export const accessKeyIdOf = (authorization: string | undefined): string | undefined => /Credential=([^/]+)\//.exec(authorization ?? '')?.[1];
