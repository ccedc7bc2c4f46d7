/**
 * BENCH ONLY. Cold-start proxies for every Lambda the CDK app deploys: the bundle esbuild makes with the
 * StackJobsFunction options (CJS, node22, minified, AWS SDK bundled; the source map is not counted), and the
 * module initialisation time of that bundle in a fresh `node` process (median of runs). Also reports each
 * function's configured memory, which the cost section prices. Prints one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { synthesizeTemplate } from '../../infra/asl';
import { ENTRY_METADATA, RUNTIME_SDK_MODULES } from '../../infra/constructs/stack-jobs-function';
import { REPO_ROOT } from '../../local/local-mode';

const RUNS = Number(process.argv[2] ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** Module initialisation of a bundle in a fresh node (ms). */
function initOf(file: string): number {
  const ms = execFileSync(process.execPath, ['-e', `const t=process.hrtime.bigint();require(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`], {
    env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', POWERTOOLS_METRICS_DISABLED: 'true' },
    encoding: 'utf8',
  });
  return Number(ms);
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
  const dir = mkdtempSync(join(tmpdir(), 'stackjobs-coldstart-'));
  const runtimeDir = mkdtempSync(join(REPO_ROOT, '.bench-coldstart-'));
  try {
    const rows = [...functions].map(([entry, fn], i) => {
      const out = buildSync({ entryPoints: [join(REPO_ROOT, entry)], bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, sourcemap: true, sourcesContent: false, write: false, metafile: true, outfile: join(dir, `f${i}.js`), logLevel: 'error' });
      const js = out.outputFiles.find((f) => f.path.endsWith('.js'))!;
      writeFileSync(js.path, js.contents);
      // The largest inputs, so a regression names its cause.
      const inputs = Object.entries(out.metafile.outputs[Object.keys(out.metafile.outputs).find((k) => k.endsWith('.js'))!].inputs)
        .map(([path, v]) => ({ pkg: /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'app', bytes: v.bytesInOutput }))
        .reduce((m, x) => m.set(x.pkg, (m.get(x.pkg) ?? 0) + x.bytes), new Map<string, number>());
      const top = [...inputs].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([pkg, bytes]) => `${pkg} ${(bytes / 1024).toFixed(0)} KB`);
      const init: number[] = [];
      for (let r = 0; r < RUNS; r++) init.push(initOf(js.path));
      // The same bundle with stackjobs:bundleAwsSdk=false: the SDK left to the runtime (here resolved from node_modules,
      // so it is written inside the repository).
      const runtimeSdk = buildSync({ entryPoints: [join(REPO_ROOT, entry)], bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, external: [...RUNTIME_SDK_MODULES], write: false, outfile: join(runtimeDir, `f${i}.js`), logLevel: 'error' }).outputFiles[0];
      writeFileSync(runtimeSdk.path, runtimeSdk.contents);
      const runtimeInit: number[] = [];
      for (let r = 0; r < RUNS; r++) runtimeInit.push(initOf(runtimeSdk.path));
      return {
        entry,
        ...fn,
        bytes: js.contents.length,
        top,
        initMs: { median: median(init), min: Math.min(...init), max: Math.max(...init) },
        runtimeSdk: { bytes: runtimeSdk.contents.length, initMs: { median: median(runtimeInit), min: Math.min(...runtimeInit), max: Math.max(...runtimeInit) } },
      };
    });
    // The SDK packages besides DynamoDB's load on first use (lambdas/adapters/aws/sdk.ts): what the first submission
    // adds on top of init, measured as their load time in a fresh node that has DynamoDB's (and so the SDK core) loaded.
    const deferred = ['@aws-sdk/client-sfn', '@aws-sdk/client-sts', '@aws-sdk/client-s3', '@aws-sdk/client-secrets-manager'];
    const firstSubmission: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const script = `require('@aws-sdk/lib-dynamodb');require('@aws-sdk/client-dynamodb');const t=process.hrtime.bigint();for(const p of ${JSON.stringify(deferred)})require(p);process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
      firstSubmission.push(Number(execFileSync(process.execPath, ['-e', script], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' }, encoding: 'utf8' })));
    }
    const deferredLoad = { packages: deferred, ms: { median: median(firstSubmission), min: Math.min(...firstSubmission), max: Math.max(...firstSubmission) } };
    process.stdout.write(`\nBENCH_RESULT ${JSON.stringify({ functions: rows, deferredLoad })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(runtimeDir, { recursive: true, force: true });
  }
}

main();
