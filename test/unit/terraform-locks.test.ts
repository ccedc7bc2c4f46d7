/**
 * Terraform's lock where each backend keeps it, against aws-sdk-client-mock (S3 `<key>.tflock`, the DynamoDB lock
 * table's item) and a temporary directory (the local `.lock.info`). The real binary's local lock is in
 * test/e2e/terraform-state-lock.e2e.test.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConditionalCheckFailedException, DeleteItemCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import type { BackendClientFactories } from '../../lambdas/adapters/aws/backend-clients';
import { LocalLockFiles, lockHolderPid, lockInfoPath } from '../../lambdas/adapters/terraform-locks/local-lock-file';
import { TerraformLockProbe } from '../../lambdas/adapters/terraform-locks/terraform-lock-probe';
import { BackendUnavailableError } from '../../lambdas/domain/errors';
import type { BackendCredential } from '../../lambdas/domain/schemas';
import { s3Backend } from '../support/domain-fixtures';

const s3 = mockClient(S3Client);
const ddb = mockClient(DynamoDBClient);
beforeEach(() => {
  s3.reset();
  ddb.reset();
});

const STATE_KEY = 'stack-jobs/acmecorp/production/eks_01jq5xe4z7farkgenqsh47c1h0/terraform.tfstate';
const KEYS = JSON.stringify({ accessKeyId: 'AKIAEXAMPLEKEY000001', secretAccessKey: 'example-secret-access-key' });
const secrets = { get: async (ref: string) => (ref === 'stackjobs/acmecorp/backend' ? KEYS : Promise.reject(new Error('missing'))) };
/** Terraform's LockInfo as `terraform apply` writes it (field order and time format from a real 1.11.4 lock). */
const info = (id: string, who = 'stackjobs-tool@ip-10-0-1-7') =>
  JSON.stringify({
    ID: id,
    Operation: 'OperationTypeApply',
    Info: '',
    Who: who,
    Version: '1.11.4',
    Created: '2026-11-27T11:02:13.551034117Z',
    Path: `acmecorp-terraform-state/${STATE_KEY}`,
  });
const body = (text: string) => ({ transformToString: async () => text }) as never;
const status = (name: string, code: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: code } });

/** Factories that record the client settings each backend call was made with. */
function recordingFactories(): BackendClientFactories & { s3Configs: unknown[]; dynamoConfigs: unknown[] } {
  const f = {
    s3Configs: [] as unknown[],
    dynamoConfigs: [] as unknown[],
    s3: (c: object) => (f.s3Configs.push(c), new S3Client(c)),
    dynamo: (c: object) => (f.dynamoConfigs.push(c), new DynamoDBClient(c)),
  };
  return f;
}

describe('the S3 lock object (use_lockfile)', () => {
  const backend = s3Backend({
    secretRef: 'stackjobs/acmecorp/backend',
    config: { bucket: 'acmecorp-terraform-state', region: 'eu-west-1', keyPrefix: 'stack-jobs', endpoint: 'https://s3.internal.example' },
  });

  it("reads <key>.tflock with the backend's own credential, region and endpoint", async () => {
    s3.on(GetObjectCommand, { Bucket: 'acmecorp-terraform-state', Key: `${STATE_KEY}.tflock` }).resolves({ Body: body(info('lock-1')), ETag: '"e1"' });
    const factories = recordingFactories();
    const lock = await new TerraformLockProbe(secrets, factories).read(backend, STATE_KEY);
    expect(lock).toEqual({
      id: 'lock-1',
      operation: 'OperationTypeApply',
      who: 'stackjobs-tool@ip-10-0-1-7',
      created: '2026-11-27T11:02:13.551034117Z',
      path: `acmecorp-terraform-state/${STATE_KEY}`,
      store: 's3-object',
      held: true,
    });
    expect(factories.s3Configs).toEqual([
      {
        region: 'eu-west-1',
        endpoint: 'https://s3.internal.example',
        forcePathStyle: true,
        credentials: { accessKeyId: 'AKIAEXAMPLEKEY000001', secretAccessKey: 'example-secret-access-key' },
      },
    ]);
    // No lock table configured: the table is never asked.
    expect(factories.dynamoConfigs).toEqual([]);
  });

  it('finds no lock when the object is absent', async () => {
    s3.on(GetObjectCommand).rejects(status('NoSuchKey', 404));
    expect(await new TerraformLockProbe(secrets).read(backend, STATE_KEY)).toBeUndefined();
  });

  it('deletes the lock only with its own id, and only the very object read (If-Match its ETag)', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body(info('lock-1')), ETag: '"e1"' });
    s3.on(DeleteObjectCommand).resolves({});
    const probe = new TerraformLockProbe(secrets);
    expect(await probe.forceUnlock(backend, STATE_KEY, 'lock-2')).toMatchObject({ status: 'mismatch', lock: { id: 'lock-1' } });
    expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(0);
    expect(await probe.forceUnlock(backend, STATE_KEY, 'lock-1')).toMatchObject({ status: 'released', lock: { id: 'lock-1' } });
    expect(s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'acmecorp-terraform-state', Key: `${STATE_KEY}.tflock`, IfMatch: '"e1"' },
    ]);
  });

  it('releases nothing when another run locked the state between the read and the delete, and names that lock', async () => {
    s3.on(GetObjectCommand)
      .resolvesOnce({ Body: body(info('lock-1')), ETag: '"e1"' })
      .resolves({ Body: body(info('lock-9', 'alice@laptop')), ETag: '"e9"' });
    s3.on(DeleteObjectCommand).rejects(status('PreconditionFailed', 412));
    expect(await new TerraformLockProbe(secrets).forceUnlock(backend, STATE_KEY, 'lock-1')).toMatchObject({
      status: 'mismatch',
      lock: { id: 'lock-9', who: 'alice@laptop' },
    });
  });

  it('says there is nothing to release when there is no lock', async () => {
    s3.on(GetObjectCommand).rejects(status('NoSuchKey', 404));
    expect(await new TerraformLockProbe(secrets).forceUnlock(backend, STATE_KEY, 'lock-1')).toEqual({ status: 'none' });
  });
});

describe('the DynamoDB lock table (dynamodb_table)', () => {
  const backend = s3Backend({
    config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1', keyPrefix: 'stack-jobs', lockTable: 'acmecorp-terraform-locks' },
  });
  const lockKey = { LockID: { S: `acmecorp-terraform-state/${STATE_KEY}` } };

  beforeEach(() => s3.on(GetObjectCommand).rejects(status('NoSuchKey', 404)));

  it('reads the item LockID = <bucket>/<key> (consistently), never the -md5 digest item beside it', async () => {
    ddb.on(GetItemCommand).resolves({ Item: { ...lockKey, Info: { S: info('lock-1') } } });
    expect(await new TerraformLockProbe(secrets).read(backend, STATE_KEY)).toMatchObject({ id: 'lock-1', store: 'dynamodb-item', held: true });
    expect(ddb.commandCalls(GetItemCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: 'acmecorp-terraform-locks', Key: lockKey, ConsistentRead: true },
    ]);
  });

  it('takes no item without Info for a lock (the -md5 digest item has only Digest)', async () => {
    ddb
      .on(GetItemCommand)
      .resolves({ Item: { LockID: { S: `acmecorp-terraform-state/${STATE_KEY}-md5` }, Digest: { S: '0f343b0931126a20f133d67c2b018a3b' } } });
    expect(await new TerraformLockProbe(secrets).read(backend, STATE_KEY)).toBeUndefined();
    expect(await new TerraformLockProbe(secrets).forceUnlock(backend, STATE_KEY, 'lock-1')).toEqual({ status: 'none' });
    expect(ddb.commandCalls(DeleteItemCommand)).toHaveLength(0);
  });

  it('deletes the item conditioned on the very Info read, and only for the lock id given', async () => {
    ddb.on(GetItemCommand).resolves({ Item: { ...lockKey, Info: { S: info('lock-1') } } });
    ddb.on(DeleteItemCommand).resolves({});
    const probe = new TerraformLockProbe(secrets);
    expect(await probe.forceUnlock(backend, STATE_KEY, 'not-the-id')).toMatchObject({ status: 'mismatch', lock: { id: 'lock-1' } });
    expect(ddb.commandCalls(DeleteItemCommand)).toHaveLength(0);
    expect(await probe.forceUnlock(backend, STATE_KEY, 'lock-1')).toMatchObject({ status: 'released' });
    expect(ddb.commandCalls(DeleteItemCommand)[0].args[0].input).toEqual({
      TableName: 'acmecorp-terraform-locks',
      Key: lockKey,
      ConditionExpression: '#info = :info',
      ExpressionAttributeNames: { '#info': 'Info' },
      ExpressionAttributeValues: { ':info': { S: info('lock-1') } },
    });
  });

  it('releases nothing when the condition fails (the item changed), and says what is there now', async () => {
    ddb
      .on(GetItemCommand)
      .resolvesOnce({ Item: { ...lockKey, Info: { S: info('lock-1') } } })
      .resolves({});
    ddb.on(DeleteItemCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    expect(await new TerraformLockProbe(secrets).forceUnlock(backend, STATE_KEY, 'lock-1')).toEqual({ status: 'none' });
  });

  it('prefers the store the runner configures when both hold a lock', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body(info('object-lock')), ETag: '"e"' });
    ddb.on(GetItemCommand).resolves({ Item: { ...lockKey, Info: { S: info('table-lock') } } });
    expect(await new TerraformLockProbe(secrets).read(backend, STATE_KEY)).toMatchObject({ id: 'table-lock' });
  });

  it('turns a refusal into a BackendUnavailableError naming the grant, and lets a throttle through for a retry', async () => {
    ddb.on(GetItemCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    const refused = new TerraformLockProbe(secrets).read(backend, STATE_KEY);
    await expect(refused).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(refused).rejects.toThrow(
      'access denied (AccessDeniedException); without a backend secret the bucket must be in stackjobs:stateBucketNames and the table in stackjobs:stateLockTableNames',
    );
    ddb.on(GetItemCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));
    await expect(new TerraformLockProbe(secrets).read(backend, STATE_KEY)).rejects.not.toBeInstanceOf(BackendUnavailableError);
  });
});

describe('the local lock file', () => {
  let dir: string;
  let backend: BackendCredential;
  let statePath: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stackjobs-local-lock-'));
    backend = s3Backend({ type: 'local', config: { keyPrefix: 'stack-jobs', path: dir } });
    statePath = join(dir, STATE_KEY);
    mkdirSync(dirname(statePath), { recursive: true });
    writeFileSync(statePath, '');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** /proc/locks with one POSIX lock on the state file, as Linux prints it, among others. */
  const procLocksHolding = (path: string, pid = 4242) => {
    const st = statSync(path, { bigint: true });
    const major = ((st.dev >> 8n) & 0xfffn).toString(16).padStart(2, '0');
    const minor = (st.dev & 0xffn).toString(16).padStart(2, '0');
    return [
      `1: POSIX  ADVISORY  WRITE ${pid} ${major}:${minor}:${st.ino} 0 EOF`,
      `1: -> POSIX  ADVISORY  WRITE 5555 ${major}:${minor}:${st.ino} 0 EOF`,
      '2: FLOCK  ADVISORY  WRITE 77 00:1a:12 0 EOF',
      '',
    ].join('\n');
  };

  it('finds the holder of a POSIX lock in /proc/locks by device and inode, ignoring waiters', () => {
    const st = statSync(statePath, { bigint: true });
    expect(lockHolderPid(procLocksHolding(statePath, 4242), st.dev, st.ino)).toBe(4242);
    expect(lockHolderPid(procLocksHolding(statePath).split('\n').slice(1).join('\n'), st.dev, st.ino)).toBeUndefined();
    expect(lockHolderPid('1: POSIX  ADVISORY  WRITE 9 fe:00:1 0 EOF', st.dev, st.ino + 1n)).toBeUndefined();
  });

  it('reads .terraform.tfstate.lock.info beside the state and whether a process still holds the lock', async () => {
    writeFileSync(lockInfoPath(statePath), info('lock-1', 'dev@laptop'));
    expect(lockInfoPath(statePath)).toBe(join(dirname(statePath), '.terraform.tfstate.lock.info'));
    const held = new TerraformLockProbe(secrets, undefined, new LocalLockFiles(async () => procLocksHolding(statePath)));
    expect(await held.read(backend, STATE_KEY)).toMatchObject({ id: 'lock-1', who: 'dev@laptop', store: 'local-file', held: true });
    const stale = new TerraformLockProbe(secrets, undefined, new LocalLockFiles(async () => ''));
    expect(await stale.read(backend, STATE_KEY)).toMatchObject({ id: 'lock-1', held: false });
    const unknown = new TerraformLockProbe(secrets, undefined, new LocalLockFiles(async () => undefined));
    expect((await unknown.read(backend, STATE_KEY))?.held).toBeUndefined();
  });

  it('refuses to remove the info of a lock a live process holds, and removes a stale one with its id only', async () => {
    writeFileSync(lockInfoPath(statePath), info('lock-1'));
    const held = new TerraformLockProbe(secrets, undefined, new LocalLockFiles(async () => procLocksHolding(statePath)));
    expect(await held.forceUnlock(backend, STATE_KEY, 'lock-1')).toMatchObject({ status: 'held' });
    const stale = new TerraformLockProbe(secrets, undefined, new LocalLockFiles(async () => ''));
    expect(await stale.forceUnlock(backend, STATE_KEY, 'lock-2')).toMatchObject({ status: 'mismatch', lock: { id: 'lock-1' } });
    expect(readFileSync(lockInfoPath(statePath), 'utf8')).toBe(info('lock-1'));
    expect(await stale.forceUnlock(backend, STATE_KEY, 'lock-1')).toMatchObject({ status: 'released' });
    expect(existsSync(lockInfoPath(statePath))).toBe(false);
    expect(await stale.forceUnlock(backend, STATE_KEY, 'lock-1')).toEqual({ status: 'none' });
  });

  it("finds nothing for a local backend without a path (its state lives in the runner's workspace)", async () => {
    const noPath = s3Backend({ type: 'local', config: { keyPrefix: 'stack-jobs' } });
    expect(await new TerraformLockProbe(secrets).read(noPath, STATE_KEY)).toBeUndefined();
  });
});
