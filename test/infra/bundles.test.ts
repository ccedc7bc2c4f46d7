/**
 * What goes into each Lambda bundle (esbuild with the StackJobsFunction options): guards for the two things that
 * made every bundle large, both easy to bring back with one import line. Sizes and init times are in `npm run bench`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildSync, type Metafile } from 'esbuild';
import { bundleAwsSdkFromContext } from '../../infra/context';
import { bundlingOptions } from '../../infra/constructs/stack-jobs-function';

const ROOT = join(__dirname, '../..');
const handlers = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? handlers(join(dir, e.name)) : e.name.endsWith('.handler.ts') ? [join(dir, e.name)] : []));

function inputsOf(entry: string): string[] {
  const out = buildSync({ entryPoints: [entry], bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, write: false, metafile: true, outfile: '/dev/null/out.js', logLevel: 'error' });
  const meta: Metafile = out.metafile;
  return Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs).filter((i) => o.inputs[i].bytesInOutput > 0));
}

const entries = handlers(join(ROOT, 'lambdas'));
const bundles = new Map(entries.map((e) => [relative(ROOT, e), inputsOf(e)]));

it('finds every Lambda handler', () => {
  expect([...bundles.keys()].sort()).toEqual([
    'lambdas/handlers/api.handler.ts',
    'lambdas/handlers/resource-changed.handler.ts',
    'lambdas/handlers/slack-interactions.handler.ts',
    'lambdas/workflow/execution-ended.handler.ts',
    'lambdas/workflow/request-approval.handler.ts',
    'lambdas/workflow/step.handler.ts',
  ]);
});

it.each([...bundles.keys()])('%s bundles no zod locale but English (zod is imported through lambdas/shared/zod)', (entry) => {
  const locales = bundles.get(entry)!.filter((i) => i.includes('zod/v4/locales/')).map((i) => i.replace(/.*zod\/v4\/locales\//, ''));
  expect(locales.filter((l) => !l.startsWith('en.'))).toEqual([]);
  expect(bundles.get(entry)!.some((i) => i.includes('zod/v4/classic/schemas'))).toBe(true);
});

it('bundles into the workflow step Lambda only the SDK clients it calls (DynamoDB, EventBridge, ECS StopTask, SFN wakes)', () => {
  const clients = [...new Set(bundles.get('lambdas/workflow/step.handler.ts')!.map((i) => /@aws-sdk\/(client-[a-z-]+)\//.exec(i)?.[1]).filter(Boolean))].sort();
  expect(clients).toEqual(['client-dynamodb', 'client-ecs', 'client-eventbridge', 'client-sfn']);
});

it('keeps Slack out of the API and intake bundles, and artifacts and ECS out of the intake (it only submits)', () => {
  const has = (entry: string, pkg: string) => bundles.get(entry)!.some((i) => i.includes(`node_modules/${pkg}/`));
  for (const entry of ['lambdas/handlers/api.handler.ts', 'lambdas/handlers/resource-changed.handler.ts']) expect(has(entry, '@slack/web-api')).toBe(false);
  for (const pkg of ['@aws-sdk/client-ecs', '@aws-sdk/lib-storage', '@aws-sdk/s3-request-presigner']) expect(has('lambdas/handlers/resource-changed.handler.ts', pkg)).toBe(false);
  expect(has('lambdas/handlers/slack-interactions.handler.ts', '@slack/web-api') || has('lambdas/workflow/request-approval.handler.ts', '@slack/web-api')).toBe(true);
});

describe('SDK packages load on first use (lambdas/adapters/aws/sdk.ts)', () => {
  /** The @aws-sdk/client-* packages a fresh node has evaluated after `script` (tsx runs the sources, CommonJS). */
  function clientsLoadedBy(script: string): string[] {
    const probe = `${script};process.stdout.write(JSON.stringify(Object.keys(require.cache).map((k)=>/@aws-sdk\\/(client-[a-z-]+)\\/dist-cjs\\/index/.exec(k)?.[1]).filter(Boolean).sort()))`;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, AWS_REGION: 'us-east-1' } });
    expect(out.status).toBe(0);
    return JSON.parse(out.stdout) as string[];
  }

  it('initialises every handler with DynamoDB\'s package only', () => {
    for (const entry of bundles.keys()) expect({ entry, loaded: clientsLoadedBy(`require('./${entry}')`) }).toEqual({ entry, loaded: ['client-dynamodb'] });
  });

  it('builds the API\'s dependencies without loading a package until a request calls that service', () => {
    const env = "Object.assign(process.env,{JOBS_TABLE:'j',CATALOG_TABLE:'c',ARTIFACTS_BUCKET:'b',STATE_MACHINE_ARN:'arn:aws:states:us-east-1:1:stateMachine:s',EVENT_BUS_NAME:'e'})";
    expect(clientsLoadedBy(`${env};require('./lambdas/api/routes').allRoutes(require('./lambdas/api/context').serviceContextFromEnv('probe'))`)).toEqual(['client-dynamodb']);
    // A call does load it: the first StartExecution evaluates @aws-sdk/client-sfn.
    expect(clientsLoadedBy(`${env};const c=require('./lambdas/api/context').serviceContextFromEnv('probe');c.submission.starter.start({metadata:{id:'sj_x'}}).catch(()=>{})`)).toContain('client-sfn');
  });
});

describe('stackjobs:bundleAwsSdk', () => {
  it('bundles the pinned SDK by default and leaves it to the runtime when false', () => {
    const nodeWith = (value?: string) => {
      const app = new App({ context: value === undefined ? {} : { 'stackjobs:bundleAwsSdk': value } });
      return app.node;
    };
    expect(bundlingOptions(bundleAwsSdkFromContext(nodeWith())).externalModules).toEqual([]);
    expect(bundlingOptions(bundleAwsSdkFromContext(nodeWith('false'))).externalModules).toEqual(['@aws-sdk/*', '@smithy/*']);
    expect(() => bundleAwsSdkFromContext(nodeWith('maybe'))).toThrow('stackjobs:bundleAwsSdk must be true or false');
  });

  it.each([...bundles.keys()])('keeps %s under 500 KB minified when the runtime provides the SDK', (entry) => {
    const out = buildSync({ entryPoints: [join(ROOT, entry)], bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, external: [...bundlingOptions(false).externalModules!], write: false, outfile: '/dev/null/out.js', logLevel: 'error' });
    expect(out.outputFiles[0].contents.length).toBeLessThan(500 * 1024);
  });
});
