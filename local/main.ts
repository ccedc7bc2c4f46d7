/**
 * `npm run local`: the whole product on this machine. Options come from the environment (README, "Local mode"):
 * STACKJOBS_CONFIG, STACKJOBS_DATA_DIR, STACKJOBS_PORT, STACKJOBS_IN_MEMORY, and the IaC binaries. (STACKJOBS_CONFIG is this
 * config only: the CLI's profiles file is STACKJOBS_PROFILES.)
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureConsoleBuilt } from '../infra/console-build';
import { loadLocalConfig } from './config';
import { REPO_ROOT, startLocalMode, type LocalMode } from './local-mode';
import { createServer } from 'node:net';

/** Which IaC binary the runner will drive: the configured one, else terraform/tofu on the PATH, else none. */
export function findIacBinary(env: NodeJS.ProcessEnv = process.env): { bin?: string; name: string } {
  if (env.STACKJOBS_TERRAFORM_BIN) return { bin: env.STACKJOBS_TERRAFORM_BIN, name: env.STACKJOBS_TERRAFORM_BIN };
  for (const name of ['terraform', 'tofu']) {
    for (const dir of (env.PATH ?? '').split(':').filter(Boolean)) {
      if (existsSync(join(dir, name))) return { bin: join(dir, name), name };
    }
  }
  return { name: 'none' };
}

export interface StartFromEnvOptions {
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Used when no terraform or tofu is installed (the demo passes the stand-in CLI from test/). */
  fallbackTerraformBin?: () => string;
}

export async function startFromEnv(
  o: StartFromEnvOptions = {},
): Promise<LocalMode & { iac: string; principals: Array<{ token: string; subject: string; orgs: string[]; roles: string[] }> }> {
  const env = o.env ?? process.env;
  const log = o.log ?? ((l: string) => console.log(l));
  const configPath = resolve(env.STACKJOBS_CONFIG ?? join(REPO_ROOT, 'examples', 'local', 'stackjobs.yaml'));
  const config = loadLocalConfig(configPath);
  const found = findIacBinary(env);
  let terraformBin = found.bin;
  if (!terraformBin && o.fallbackTerraformBin) {
    log('neither terraform nor tofu is installed: using the stand-in CLI from test/support/standin-iac (it speaks the same CLI and JSON formats)');
    terraformBin = o.fallbackTerraformBin();
  }
  const runnerEnv: Record<string, string> = {};
  if (terraformBin) runnerEnv.STACKJOBS_TERRAFORM_BIN = terraformBin;
  for (const k of [
    'STACKJOBS_TOFU_BIN',
    'STACKJOBS_PULUMI_BIN',
    'STACKJOBS_HEARTBEAT_SECONDS',
    'STACKJOBS_GRACE_SECONDS',
    'STACKJOBS_OPERATION_TIMEOUT_SECONDS',
    'STACKJOBS_LOG_FLUSH_SECONDS',
  ] as const) {
    if (env[k]) runnerEnv[k] = env[k]!;
  }
  const port = Number(env.STACKJOBS_PORT ?? 8787);
  // Checked before anything is created (data directory, tables): a port in use fails at once, saying what changes it.
  if (port !== 0 && !(await portFree(port))) {
    throw new Error(`port ${port} on 127.0.0.1 is in use (another program, or another local mode): set STACKJOBS_PORT to a free port, or 0 for any`);
  }
  // The web console at `/`: built first when console/ changed since the last build (a few seconds), unless turned off.
  const consoleDir = env.STACKJOBS_CONSOLE === 'off' ? undefined : ensureConsoleBuilt(log).dir;
  const local = await startLocalMode({
    config,
    ...(consoleDir ? { consoleDir } : {}),
    dataDir: env.STACKJOBS_DATA_DIR ?? join(process.cwd(), '.stackjobs'),
    inMemory: env.STACKJOBS_IN_MEMORY === 'true',
    port,
    runnerEnv,
    log,
  });
  return {
    ...local,
    iac: terraformBin ?? 'none (install terraform or tofu, or set STACKJOBS_TERRAFORM_BIN)',
    principals: configPath === EXAMPLE_CONFIG ? config.principals : [],
  };
}

const EXAMPLE_CONFIG = join(REPO_ROOT, 'examples', 'local', 'stackjobs.yaml');

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const local = await startFromEnv();
  console.log(`console:   ${local.apiUrl}/`);
  console.log(`API:       ${local.apiUrl}/v1/`);
  console.log(`data dir:  ${local.dataDir}`);
  console.log(`IaC:       ${local.iac}`);
  if (local.principals.length > 0) {
    // The example config's people, so a newcomer can try every role (their tokens are in examples/local/stackjobs.yaml);
    // two approvers, because the example plan policy asks two distinct ones for new production resources.
    console.log('tokens:    (examples/local/stackjobs.yaml; two approvers, for a plan that needs two)');
    for (const p of local.principals) console.log(`  ${p.token.padEnd(28)} ${p.subject} — ${p.roles.join(', ')} in ${p.orgs.join(', ')}`);
  }
  console.log(`stackjobs local ready on ${local.apiUrl}`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping local mode`);
    await local.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

if (require.main === module) {
  main().catch((e: Error) => {
    console.error(`stackjobs local failed to start: ${e.message}`);
    process.exit(1);
  });
}
