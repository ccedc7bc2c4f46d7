/**
 * A backend secret stored as plain text instead of JSON {accessKeyId, secretAccessKey}: JSON.parse's SyntaxError quotes
 * the first characters of its input, so a parse outside a catch put the start of the secret into the API's error log.
 * Through the API handler (real repositories on dynalite, the real lock probe and backend probe over mocked S3), the
 * answer is a problem naming the secret's reference, and no response, log line or stored item holds a piece of it.
 */
import { DynamoDBClient, ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/embedded-dynamo';
import { awsCredential, change, platformEksModule, s3Backend } from '../support/domain-fixtures';
import { principals, startApiHarness, type ApiHarness } from '../support/api-harness';

const RESOURCE = 'eks_01jq5xe4z7farkgenqsh47c1h0';
const STATE_LOCK = `/v1/orgs/acmecorp/envs/production/resources/${RESOURCE}/state-lock`;
const BACKEND_SECRET_REF = 'stackjobs/acmecorp/state-backend';
/** A secret access key pasted on its own, as operators do, where the backend expects a JSON object. */
const PLAIN_TEXT_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLAINTEXTKEY';

let h: ApiHarness;

beforeAll(async () => {
  h = await startApiHarness();
  h.secrets.values['stackjobs/acmecorp/awscred_prod_account'] = JSON.stringify({ accessKeyId: 'AKIAEXAMPLEKEY000001', secretAccessKey: 'example-secret' });
  h.secrets.values[BACKEND_SECRET_REF] = JSON.stringify({ accessKeyId: 'AKIAEXAMPLEKEY000002', secretAccessKey: 'example-backend-secret' });
  expect(
    (await h.call('PUT', '/v1/orgs/acmecorp/provider-credentials/awscred_prod_account', { principal: principals.admin, body: awsCredential() })).statusCode,
  ).toBe(201);
  expect(
    (
      await h.call('PUT', '/v1/orgs/acmecorp/backend-credentials/tfcred_s3_backend_prod', {
        principal: principals.admin,
        body: s3Backend({ secretRef: BACKEND_SECRET_REF }),
      })
    ).statusCode,
  ).toBe(201);
  expect(
    (await h.call('PUT', '/v1/platform/modules/iacmod_platform_eks_terraform', { principal: principals.platformAdmin, body: platformEksModule() })).statusCode,
  ).toBe(201);
  // The stack's job records the backend; the secret is replaced by plain text afterwards, as a rotation gone wrong would.
  expect((await h.call('POST', '/v1/stack-jobs', { body: change() })).statusCode).toBe(201);
  h.secrets.values[BACKEND_SECRET_REF] = PLAIN_TEXT_SECRET;
});
afterAll(() => h.stop());

async function dumpTables(): Promise<string> {
  const client = new DynamoDBClient({ endpoint: h.dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const tables = (await client.send(new ListTablesCommand({}))).TableNames ?? [];
  const dumps = await Promise.all(tables.map(async (t) => JSON.stringify((await client.send(new ScanCommand({ TableName: t }))).Items)));
  client.destroy();
  return dumps.join('\n');
}

/** Every 6-character piece of the secret found in the text: a quoted prefix such as "wJalrXUtnF"... is one. */
function piecesOfSecretIn(text: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i + 6 <= PLAIN_TEXT_SECRET.length; i++) if (text.includes(PLAIN_TEXT_SECRET.slice(i, i + 6))) pieces.push(PLAIN_TEXT_SECRET.slice(i, i + 6));
  return pieces;
}

describe('a backend secret that is not JSON', () => {
  it("answers the state lock read with a 502 problem naming the secret's reference, and leaks no piece of the secret", async () => {
    h.logs.length = 0;
    const res = await h.call('GET', STATE_LOCK, { principal: principals.viewer });
    expect(res.statusCode).toBe(502);
    expect(res.json().detail).toBe(`backend secret ${BACKEND_SECRET_REF} is not valid JSON (expected {accessKeyId, secretAccessKey, sessionToken?})`);
    expect(piecesOfSecretIn([res.body, ...h.logs].join('\n'))).toEqual([]);
  });

  it('fails the pre-flight backend check saying the secret is not valid JSON, and stores no piece of the secret', async () => {
    h.logs.length = 0;
    const res = await h.call('POST', '/v1/preflight', { body: change() });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(`backend secret ${BACKEND_SECRET_REF} is not valid JSON`);
    expect(piecesOfSecretIn([res.body, ...h.logs, await dumpTables()].join('\n'))).toEqual([]);
  });
});
