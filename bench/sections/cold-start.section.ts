/**
 * BENCH ONLY. Cold-start proxies for every Lambda the CDK app deploys, in the shape the default deploys
 * (`stackjobs:awsSdk=layer`): the bundle esbuild makes with the StackJobsFunction options (CJS, node22, minified,
 * `@aws-sdk/*` and `@smithy/*` left to the layer; the source map is not counted), and the module initialisation time of
 * that bundle in a fresh `node` laid out as on Lambda (cwd outside the repository, NODE_PATH the layer's
 * `nodejs/node_modules`), median of runs. Beside it, the same for `stackjobs:awsSdk=bundle` (SDK in every bundle), the
 * layer's size, and each function's configured memory, which the cost section prices. Prints one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { synthesizeTemplate } from '../../infra/asl';
import { ENTRY_METADATA, bundlingOptions } from '../../infra/constructs/stack-jobs-function';
import { layerPackages, writeLayer } from '../../infra/sdk-layer';
import { REPO_ROOT } from '../../local/local-mode';

const RUNS = Number(process.argv[2] ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const stat = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

/** Module initialisation of a bundle in a fresh node (ms), cwd `cwd`, NODE_PATH `nodePath`. */
function initOf(file: string, cwd: string, nodePath: string): number {
  const ms = execFileSync(
    process.execPath,
    ['-e', `const t=process.hrtime.bigint();require(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`],
    {
      cwd,
      env: {
        PATH: process.env.PATH,
        NODE_PATH: nodePath,
        AWS_REGION: 'us-east-1',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
      encoding: 'utf8',
    },
  );
  return Number(ms);
}

function sizeOf(dir: string): { bytes: number; files: number } {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((acc, e) => ({ bytes: acc.bytes + statSync(join(e.parentPath, e.name)).size, files: acc.files + 1 }), { bytes: 0, files: 0 });
}

/** Bundles `entry` as StackJobsFunction would with `awsSdk`, writes it to `outfile`; size and largest inputs. */
function bundle(entry: string, awsSdk: 'layer' | 'bundle', outfile: string) {
  const out = buildSync({
    entryPoints: [join(REPO_ROOT, entry)],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    external: [...bundlingOptions(awsSdk).externalModules!],
    write: false,
    metafile: true,
    outfile,
    logLevel: 'error',
  });
  const js = out.outputFiles.find((f) => f.path.endsWith('.js'))!;
  writeFileSync(js.path, js.contents);
  // The largest inputs, so a regression names its cause.
  const inputs = Object.entries(out.metafile.outputs[Object.keys(out.metafile.outputs).find((k) => k.endsWith('.js'))!].inputs)
    .map(([path, v]) => ({ pkg: /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'app', bytes: v.bytesInOutput }))
    .reduce((m, x) => m.set(x.pkg, (m.get(x.pkg) ?? 0) + x.bytes), new Map<string, number>());
  const top = [...inputs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([pkg, bytes]) => `${pkg} ${(bytes / 1024).toFixed(0)} KB`);
  return { file: js.path, bytes: js.contents.length, top };
}

function main() {
  const template = synthesizeTemplate();
  const functions = new Map<string, { memoryMb: number; architecture: string }>();
  for (const r of Object.values(template.Resources)) {
    const entry = (r as { Metadata?: Record<string, unknown> }).Metadata?.[ENTRY_METADATA];
    if (r.Type !== 'AWS::Lambda::Function' || typeof entry !== 'string') continue;
    const p = r.Properties as { MemorySize?: number; Architectures?: string[] };
    functions.set(entry, { memoryMb: p.MemorySize ?? 128, architecture: p.Architectures?.[0] ?? 'x86_64' });
  }
  // The runner's Fargate task as the stack deploys it (infra/constructs/runner.ts): what the cost section prices.
  const taskDefinition = Object.values(template.Resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')?.Properties as
    { Cpu?: string; Memory?: string; RuntimePlatform?: { CpuArchitecture?: string } } | undefined;
  const runnerTask = {
    vcpu: Number(taskDefinition?.Cpu ?? 0) / 1024,
    memoryGb: Number(taskDefinition?.Memory ?? 0) / 1024,
    architecture: taskDefinition?.RuntimePlatform?.CpuArchitecture ?? 'X86_64',
    // An S3 gateway endpoint in the runner's VPC: image layers (ECR serves them from S3) and artifact uploads skip the NAT.
    s3GatewayEndpoint: Object.values(template.Resources).some(
      (r) =>
        r.Type === 'AWS::EC2::VPCEndpoint' &&
        (r.Properties as { VpcEndpointType?: string }).VpcEndpointType === 'Gateway' &&
        JSON.stringify((r.Properties as { ServiceName?: unknown }).ServiceName).includes('.s3'),
    ),
  };
  // Outside the repository, so the layered bundles resolve the SDK from the layer only, as on Lambda.
  const dir = mkdtempSync(join(tmpdir(), 'stackjobs-coldstart-'));
  const layerModules = join(dir, 'layer', 'nodejs', 'node_modules');
  try {
    writeLayer(REPO_ROOT, join(dir, 'layer'));
    const layer = { ...sizeOf(join(dir, 'layer')), packages: layerPackages(REPO_ROOT).length };
    const rows = [...functions].map(([entry, fn], i) => {
      const layered = bundle(entry, 'layer', join(dir, `layered-${i}.js`));
      const bundled = bundle(entry, 'bundle', join(dir, `bundled-${i}.js`));
      const init: number[] = [];
      const bundledInit: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        init.push(initOf(layered.file, dir, layerModules));
        bundledInit.push(initOf(bundled.file, dir, ''));
      }
      return {
        entry,
        ...fn,
        bytes: layered.bytes,
        top: layered.top,
        initMs: stat(init),
        bundledSdk: { bytes: bundled.bytes, top: bundled.top, initMs: stat(bundledInit) },
      };
    });
    // The SDK packages besides DynamoDB's load on first use (lambdas/adapters/aws/sdk.ts): what the first submission
    // adds on top of init, measured as their load time from the layer in a fresh node that has DynamoDB's (and so the
    // SDK core) loaded.
    const deferred = ['@aws-sdk/client-sfn', '@aws-sdk/client-sts', '@aws-sdk/client-s3', '@aws-sdk/client-secrets-manager'];
    const firstSubmission: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const script = `require('@aws-sdk/lib-dynamodb');require('@aws-sdk/client-dynamodb');const t=process.hrtime.bigint();for(const p of ${JSON.stringify(deferred)})require(p);process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
      firstSubmission.push(
        Number(
          execFileSync(process.execPath, ['-e', script], {
            cwd: dir,
            env: { PATH: process.env.PATH, NODE_PATH: layerModules, AWS_REGION: 'us-east-1' },
            encoding: 'utf8',
          }),
        ),
      );
    }
    const deferredLoad = { packages: deferred, ms: stat(firstSubmission) };
    process.stdout.write(`\nBENCH_RESULT ${JSON.stringify({ functions: rows, layer, deferredLoad, runnerTask })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
