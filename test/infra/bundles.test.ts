/**
 * What goes into each Lambda bundle (esbuild with the StackJobsFunction options): guards for the two things that
 * made every bundle large, both easy to bring back with one import line. Sizes and init times are in `npm run bench`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { buildSync, type Metafile } from 'esbuild';
import { awsSdkFromContext } from '../../infra/context';
import { bundlingOptions } from '../../infra/constructs/stack-jobs-function';
import { LAYER_SDK_PACKAGES, layerPackages, writeLayer } from '../../infra/sdk-layer';
import { AwsSdkLayer } from '../../infra/constructs/aws-sdk-layer';

const ROOT = join(__dirname, '../..');
const handlers = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? handlers(join(dir, e.name)) : e.name.endsWith('.handler.ts') ? [join(dir, e.name)] : [],
  );

function inputsOf(entry: string): string[] {
  const out = buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    write: false,
    metafile: true,
    outfile: '/dev/null/out.js',
    logLevel: 'error',
  });
  const meta: Metafile = out.metafile;
  return Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs).filter((i) => o.inputs[i].bytesInOutput > 0));
}

const entries = handlers(join(ROOT, 'lambdas'));
const bundles = new Map(entries.map((e) => [relative(ROOT, e), inputsOf(e)]));

it('finds every Lambda handler', () => {
  expect([...bundles.keys()].sort()).toEqual([
    'lambdas/handlers/api.handler.ts',
    'lambdas/handlers/approval-expired.handler.ts',
    'lambdas/handlers/drift-detected.handler.ts',
    'lambdas/handlers/drift-fan-out.handler.ts',
    'lambdas/handlers/resource-changed.handler.ts',
    'lambdas/handlers/slack-interactions.handler.ts',
    'lambdas/workflow/execution-ended.handler.ts',
    'lambdas/workflow/request-approval.handler.ts',
    'lambdas/workflow/runner-stopped.handler.ts',
    'lambdas/workflow/step.handler.ts',
  ]);
});

it.each([...bundles.keys()])('%s bundles no zod locale but English (zod is imported through lambdas/shared/zod)', (entry) => {
  const locales = bundles
    .get(entry)!
    .filter((i) => i.includes('zod/v4/locales/'))
    .map((i) => i.replace(/.*zod\/v4\/locales\//, ''));
  expect(locales.filter((l) => !l.startsWith('en.'))).toEqual([]);
  expect(bundles.get(entry)!.some((i) => i.includes('zod/v4/classic/schemas'))).toBe(true);
});

it('bundles into the workflow step Lambda only the SDK clients it calls (DynamoDB, EventBridge, ECS StopTask, SFN wakes)', () => {
  const clients = [
    ...new Set(
      bundles
        .get('lambdas/workflow/step.handler.ts')!
        .map((i) => /@aws-sdk\/(client-[a-z-]+)\//.exec(i)?.[1])
        .filter(Boolean),
    ),
  ].sort();
  expect(clients).toEqual(['client-dynamodb', 'client-ecs', 'client-eventbridge', 'client-sfn']);
});

it('keeps Slack out of the intake bundle (the API carries it to close approval messages), and artifacts and ECS out of the intake (it only submits)', () => {
  const has = (entry: string, pkg: string) => bundles.get(entry)!.some((i) => i.includes(`node_modules/${pkg}/`));
  expect(has('lambdas/handlers/resource-changed.handler.ts', '@slack/web-api')).toBe(false);
  for (const pkg of ['@aws-sdk/client-ecs', '@aws-sdk/lib-storage', '@aws-sdk/s3-request-presigner'])
    expect(has('lambdas/handlers/resource-changed.handler.ts', pkg)).toBe(false);
  expect(has('lambdas/handlers/slack-interactions.handler.ts', '@slack/web-api') || has('lambdas/workflow/request-approval.handler.ts', '@slack/web-api')).toBe(
    true,
  );
});

describe('SDK packages load on first use (lambdas/adapters/aws/sdk.ts)', () => {
  /** The @aws-sdk/client-* packages a fresh node has evaluated after `script` (tsx runs the sources, CommonJS). */
  function clientsLoadedBy(script: string): string[] {
    const probe = `${script};process.stdout.write(JSON.stringify(Object.keys(require.cache).map((k)=>/@aws-sdk\\/(client-[a-z-]+)\\/dist-cjs\\/index/.exec(k)?.[1]).filter(Boolean).sort()))`;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, AWS_REGION: 'us-east-1' },
    });
    expect(out.status).toBe(0);
    return JSON.parse(out.stdout) as string[];
  }

  it("initialises every handler with DynamoDB's package only", () => {
    for (const entry of bundles.keys()) expect({ entry, loaded: clientsLoadedBy(`require('./${entry}')`) }).toEqual({ entry, loaded: ['client-dynamodb'] });
  });

  it('initialises the API without evaluating @slack/web-api (loaded when an approval message is first replaced)', () => {
    const probe = `require('./lambdas/handlers/api.handler.ts');process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((k)=>k.includes('@slack/web-api'))))`;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, AWS_REGION: 'us-east-1' },
    });
    expect(out.status).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual([]);
    const loaded = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const p=new (require('./lambdas/approvals/adapters/slack-web-api').SlackWebApiPoster)(async()=>'x','http://127.0.0.1:9/');p.update({channel:'C',ts:'1'},{text:'t',blocks:[]}).catch(()=>{}).finally(()=>process.stdout.write(String(Object.keys(require.cache).some((k)=>k.includes('@slack/web-api')))))`,
      ],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, AWS_REGION: 'us-east-1' } },
    );
    expect(loaded.stdout).toBe('true');
  });

  it("builds the API's dependencies without loading a package until a request calls that service", () => {
    const env =
      "Object.assign(process.env,{JOBS_TABLE:'j',CATALOG_TABLE:'c',ARTIFACTS_BUCKET:'b',STATE_MACHINE_ARN:'arn:aws:states:us-east-1:1:stateMachine:s',EVENT_BUS_NAME:'e',DEPLOYMENT_ID:'1:us-east-1:StackJobs'})";
    expect(clientsLoadedBy(`${env};require('./lambdas/api/routes').allRoutes(require('./lambdas/api/context').serviceContextFromEnv('probe'))`)).toEqual([
      'client-dynamodb',
    ]);
    // A call does load it: the first StartExecution evaluates @aws-sdk/client-sfn.
    expect(
      clientsLoadedBy(
        `${env};const c=require('./lambdas/api/context').serviceContextFromEnv('probe');c.submission.starter.start({metadata:{id:'sj_x'}}).catch(()=>{})`,
      ),
    ).toContain('client-sfn');
  });
});

describe('stackjobs:awsSdk', () => {
  const nodeWith = (value?: string) => new App({ context: value === undefined ? {} : { 'stackjobs:awsSdk': value } }).node;

  it('takes the SDK from the layer by default, and bundles it or leaves it to the runtime when asked', () => {
    expect(awsSdkFromContext(nodeWith())).toBe('layer');
    expect(awsSdkFromContext(nodeWith('bundle'))).toBe('bundle');
    expect(awsSdkFromContext(nodeWith('runtime'))).toBe('runtime');
    expect(() => awsSdkFromContext(nodeWith('maybe'))).toThrow('stackjobs:awsSdk must be one of layer, bundle, runtime');
    const legacy = new App({ context: { 'stackjobs:bundleAwsSdk': 'false' } }).node;
    expect(() => awsSdkFromContext(legacy)).toThrow('stackjobs:bundleAwsSdk is gone: use stackjobs:awsSdk=bundle');
    // The layer also carries the CEL evaluator of plan policies and the YAML parser (infra/sdk-layer.ts); the runtime has only the SDK.
    expect(bundlingOptions('layer').externalModules).toEqual(['@aws-sdk/*', '@smithy/*', '@bufbuild/*', 'yaml']);
    expect(bundlingOptions('runtime').externalModules).toEqual(['@aws-sdk/*', '@smithy/*']);
    expect(bundlingOptions('bundle').externalModules).toEqual([]);
  });
});

describe('the AWS SDK layer (the default)', () => {
  let work: string;
  let layerModules: string;
  /** Each handler bundled as the default deploys it: SDK left out; its size and the modules it leaves to the layer. */
  const layered = new Map<string, { file: string; bytes: number; external: string[] }>();

  beforeAll(() => {
    // Outside the repository, so nothing resolves from its node_modules: only the layer, as on Lambda.
    work = mkdtempSync(join(tmpdir(), 'stackjobs-layer-'));
    writeLayer(ROOT, join(work, 'layer'));
    layerModules = join(work, 'layer', 'nodejs', 'node_modules');
    for (const [i, entry] of [...bundles.keys()].entries()) {
      const file = join(work, `f${i}.js`);
      const out = buildSync({
        entryPoints: [join(ROOT, entry)],
        bundle: true,
        platform: 'node',
        target: 'node22',
        format: 'cjs',
        minify: true,
        external: [...bundlingOptions('layer').externalModules!],
        metafile: true,
        write: false,
        outfile: file,
        logLevel: 'error',
      });
      writeFileSync(file, out.outputFiles[0].contents);
      const external = Object.values(out.metafile.inputs).flatMap((input) =>
        input.imports.filter((im) => im.external && !im.path.startsWith('node:') && !builtinModules.includes(im.path)).map((im) => im.path),
      );
      layered.set(entry, { file, bytes: out.outputFiles[0].contents.length, external: [...new Set(external)].sort() });
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** Runs `script` in a fresh node the way Lambda would: cwd outside the repository, NODE_PATH the layer's. */
  function inLambdaLayout(script: string): string {
    const out = spawnSync(process.execPath, ['-e', script], {
      cwd: work,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, NODE_PATH: layerModules, AWS_REGION: 'us-east-1', POWERTOOLS_METRICS_DISABLED: 'true' },
    });
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    return out.stdout;
  }

  it.each([...bundles.keys()])('keeps %s under 500 KB minified, leaving the layer only SDK packages it holds', (entry) => {
    const { bytes, external } = layered.get(entry)!;
    expect(bytes).toBeLessThan(500 * 1024);
    expect(external.length).toBeGreaterThan(0);
    // A package imported but missing from LAYER_SDK_PACKAGES would fall through to the runtime's SDK on Lambda.
    expect(external.filter((m) => !(LAYER_SDK_PACKAGES as readonly string[]).includes(m))).toEqual([]);
  });

  it('initialises every handler from the layer and loads each SDK package it names from there', () => {
    for (const [entry, { file }] of layered) {
      const loaded = JSON.parse(
        inLambdaLayout(`require(${JSON.stringify(file)});process.stdout.write(JSON.stringify(Object.keys(require.cache)))`),
      ) as string[];
      expect({ entry, dynamodb: loaded.some((k) => k.startsWith(join(layerModules, '@aws-sdk/client-dynamodb'))) }).toEqual({ entry, dynamodb: true });
      // Nothing but the bundle itself and the layer: no module from the repository or anywhere else.
      expect({ entry, elsewhere: loaded.filter((k) => k !== file && !k.startsWith(layerModules)) }).toEqual({ entry, elsewhere: [] });
    }
    // Including the packages the handlers load on first use (lambdas/adapters/aws/sdk.ts).
    const paths = JSON.parse(
      inLambdaLayout(`process.stdout.write(JSON.stringify(${JSON.stringify(LAYER_SDK_PACKAGES)}.map((p)=>{require(p);return require.resolve(p)})))`),
    ) as string[];
    expect(paths.filter((p) => !p.startsWith(layerModules))).toEqual([]);
  });

  it('holds the CEL evaluator of plan policies, which evaluates from there, without its ES-module build or test data', () => {
    expect(inLambdaLayout(`const {run}=require('@bufbuild/cel');process.stdout.write(String(run("[1, 2].exists(x, x == 2)")))`)).toBe('true');
    expect(readdirSync(join(layerModules, '@bufbuild', 'cel', 'dist'))).toEqual(['cjs']);
    expect(readdirSync(join(layerModules, '@bufbuild', 'cel-spec', 'dist', 'cjs'))).not.toContain('testdata');
  });

  it('holds the versions package-lock.json pins, without type declarations or ES-module builds', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
    const packages = layerPackages(ROOT);
    expect(packages.map((p) => p.name)).toEqual(expect.arrayContaining([...LAYER_SDK_PACKAGES, '@smithy/core']));
    for (const p of packages) {
      expect({ name: p.name, version: p.version }).toEqual({ name: p.name, version: lock.packages[`node_modules/${p.path}`]?.version });
      expect(JSON.parse(readFileSync(join(layerModules, p.path, 'package.json'), 'utf8')).version).toBe(p.version);
    }
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
    expect(files(layerModules).filter((f) => /[\\/]dist-(es|types)[\\/]|\.d\.ts$|\.map$/.test(f))).toEqual([]);
  });

  it("resolves every module the layer's own code requires from the layer (the optional SigV4a signers aside, as when bundled)", () => {
    const scan = join(__dirname, 'support', 'unresolved-requires.js');
    const { seen, unresolved } = JSON.parse(inLambdaLayout(`process.argv[2]=${JSON.stringify(layerModules)};require(${JSON.stringify(scan)})`)) as {
      seen: number;
      unresolved: string[];
    };
    expect(seen).toBeGreaterThan(100);
    // @aws-sdk/signature-v4-multi-region requires these only for SigV4a (multi-region access points); they are not
    // installed at all, so a bundled SDK lacks them too.
    expect(unresolved.map((u) => u.replace(/.* -> /, ''))).toEqual(['@aws-sdk/signature-v4-crt', '@aws-sdk/signature-v4a']);
  });

  it('is copied into the cloud assembly on synth and hashed from what was copied (the same packages, the same asset)', () => {
    const hashes = [0, 1].map(() => {
      const app = new App({ outdir: mkdtempSync(join(work, 'cdk-')) });
      const stack = new Stack(app, 'LayerOnly');
      AwsSdkLayer.of(stack, ROOT, Runtime.NODEJS_22_X, Architecture.ARM_64);
      const assembly = app.synth();
      const key = Template.fromStack(stack).findResources('AWS::Lambda::LayerVersion') as Record<string, { Properties: { Content: { S3Key: string } } }>;
      const hash = Object.values(key)[0].Properties.Content.S3Key.replace(/\.zip$/, '');
      expect(
        readFileSync(join(assembly.directory, `asset.${hash}`, 'nodejs', 'node_modules', '@aws-sdk', 'client-dynamodb', 'package.json'), 'utf8'),
      ).toContain('"version"');
      return hash;
    });
    expect(hashes[1]).toBe(hashes[0]);
  });

  it('is one per stack, for one runtime and architecture', () => {
    const stack = new Stack(new App(), 'Layers');
    const layer = AwsSdkLayer.of(stack, ROOT, Runtime.NODEJS_22_X, Architecture.ARM_64);
    expect(AwsSdkLayer.of(stack, ROOT, Runtime.NODEJS_22_X, Architecture.ARM_64)).toBe(layer);
    expect(() => AwsSdkLayer.of(stack, ROOT, Runtime.NODEJS_22_X, Architecture.X86_64)).toThrow('not for nodejs22.x/x86_64');
  });
});
