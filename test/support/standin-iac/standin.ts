/**
 * TEST EQUIPMENT — NOT PART OF THE PRODUCT. Nothing under lambdas/, runner-image/ or infra/ imports this.
 *
 * A stand-in for the Terraform CLI (real Terraform/OpenTofu/Pulumi cannot be installed on the build machines).
 * It honours the contract the runner relies on: `init -backend-config=...`, `plan -refresh-only`, `plan -out
 * -detailed-exitcode [-destroy] [-refresh=false] [-json]`, `show -json <plan>`, `apply <plan>`, `apply -auto-approve
 * [-destroy] [-refresh=false]`, `output -json`, `version`. The "infrastructure" is one `standin_value.<key>` resource
 * per key of the var file's `spec`, kept in a local state file; plans diff the var file against that state. Output
 * formats follow ../shared/fixtures/terraform/{show-json,json-ui}.
 *
 * State semantics are Terraform's (checked against the real binary by test/e2e/real-terraform.e2e.test.ts):
 * `plan` (refresh-only or not) never writes state; `apply -refresh-only -auto-approve` persists the refreshed state
 * and re-evaluated outputs (which is why the runner must never use it); `plan` refreshes in memory unless
 * `-refresh=false`. Drift: `<state file>.drift.json` ({address: value, or null for deleted}) is "the real world"
 * where it differs from state; a refresh reports it as `resource_drift`, an apply makes the real world match state.
 *
 * Controls (environment):
 *   STANDIN_FAIL=plan,apply     fail these commands (refresh = `apply -refresh-only`) with an error diagnostic
 *   STANDIN_HANG=apply          hang in these commands until signalled
 *   STANDIN_IGNORE_SIGINT=1     ignore SIGINT (only SIGKILL ends it)
 *   STANDIN_SLEEP_MS=n          sleep n ms in every command
 *   STANDIN_LOG_BYTES=n         print n bytes of log lines (in STANDIN_LOG_ON commands, default plan)
 *   STANDIN_ECHO_ENV=NAME       print NAME's value (in two writes, STANDIN_ECHO_SPLIT_MS apart) and its base64
 *   STANDIN_ENV_DUMP=dir        write the process environment to dir/<command>-<pid>.json
 *   STANDIN_CALLS=file          append each invocation's arguments as a JSON line
 *   STANDIN_PROBE_PARENT=file   append {command, uid, readable, hasTaskToken} for /proc/<parent pid>/environ, i.e.
 *                               what a module's code could learn of the runner's initial environment
 *   STANDIN_OUTPUT_ENV=NAME     plan an extra output `env_<name>` (not marked sensitive, like a module that forgot
 *                               `sensitive = true`) whose value is NAME's value; a TF_VAR_x also appears as variable x
 *   STANDIN_ADDRESS_ENV=NAME    plan an extra resource keyed by NAME's value (`for_each` on a variable), at
 *                               `standin_value.<STANDIN_ADDRESS_PREFIX><value>`
 * The same fail/hang/sleep controls can come per resource from the resource spec, `spec.standin: {fail: [..],
 * hang: [..], sleepMs: n}` in terraform.tfvars.json, so one local-mode instance can hold jobs that behave differently.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const VERSION = '1.9.8';
const PROVIDER = 'registry.terraform.io/stackjobs/standin';
const BACKEND_FILE = join('.terraform', 'standin-backend.json');

type Actions = string[];
interface State {
  version: 4;
  terraform_version: string;
  serial: number;
  lineage: string;
  resources: Record<string, unknown>;
  outputs: Record<string, { value: unknown; type: string; sensitive: boolean }>;
}
interface Change {
  address: string;
  name: string;
  actions: Actions;
  before: unknown;
  after: unknown;
  reason?: string;
}
interface PlanFile {
  standin_plan: 1;
  lineage: string;
  serial: number;
  destroy: boolean;
  variables: Record<string, unknown>;
  changes: Change[];
  outputChanges: Record<string, { actions: Actions; before: unknown; after: unknown; sensitive: boolean }>;
  desired: Record<string, unknown>;
  desiredOutputs: State['outputs'];
  prior: State;
  /** A refresh-only plan: only drift and re-evaluated outputs, nothing to apply to resources. */
  refreshOnly?: boolean;
  drift?: Change[];
}

// ------------------------------------------------------------ arguments

const argv = process.argv.slice(2);
const flags = new Map<string, string[]>();
const positional: string[] = [];
for (const a of argv) {
  const m = /^-{1,2}([a-z-]+)(?:=(.*))?$/s.exec(a);
  if (m) flags.set(m[1], [...(flags.get(m[1]) ?? []), m[2] ?? 'true']);
  else positional.push(a);
}
const flag = (name: string) => flags.get(name)?.at(-1);
const has = (name: string) => flags.has(name) && flag(name) !== 'false';
const command = positional[0] ?? 'help';
const json = has('json');
const logicalCommand = (command === 'apply' || command === 'plan') && has('refresh-only') ? 'refresh' : command;
/** Per-resource controls from `spec.standin` in the var file, read leniently (a missing file means none). */
function specControls(): { fail?: string[]; hang?: string[]; sleepMs?: number } {
  type Vars = { spec?: { standin?: { fail?: string[]; hang?: string[]; sleepMs?: number } } };
  try {
    // `apply <planfile>` has no var file: the plan file carries the variables it was planned with.
    const planFile = positional[0] === 'apply' && positional[1] && existsSync(positional[1]) ? positional[1] : undefined;
    const vars: Vars = planFile
      ? ((JSON.parse(readFileSync(planFile, 'utf8')) as { variables?: Vars }).variables ?? {})
      : (JSON.parse(readFileSync(flag('var-file') ?? 'terraform.tfvars.json', 'utf8')) as Vars);
    return vars.spec?.standin ?? {};
  } catch {
    return {};
  }
}
const SPEC_CONTROL: Record<string, 'fail' | 'hang'> = { STANDIN_FAIL: 'fail', STANDIN_HANG: 'hang' };
const listEnv = (name: string) => [
  ...(process.env[name] ?? '').split(',').filter(Boolean),
  ...(SPEC_CONTROL[name] ? (specControls()[SPEC_CONTROL[name]] ?? []) : []),
];

// ------------------------------------------------------------ output

const now = () => new Date().toISOString();
const out = (s: string) => process.stdout.write(s);
function ui(level: string, message: string, type: string, extra: Record<string, unknown> = {}) {
  if (json) out(`${JSON.stringify({ '@level': level, '@message': message, '@module': 'terraform.ui', '@timestamp': now(), ...extra, type })}\n`);
  else out(`${message}\n`);
}
function diagnostic(summary: string, detail: string): never {
  if (json) ui('error', `Error: ${summary}`, 'diagnostic', { diagnostic: { severity: 'error', summary, detail } });
  else process.stderr.write(`\nError: ${summary}\n\n${detail}\n`);
  process.exit(1);
}
const resourceRef = (address: string, name: string) => ({
  addr: address,
  module: '',
  resource: address,
  implied_provider: 'standin',
  resource_type: 'standin_value',
  resource_name: name,
  resource_key: null,
});
const typeOf = (v: unknown) => (Array.isArray(v) ? 'tuple' : v === null ? 'null' : typeof v === 'object' ? 'object' : typeof v);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------ backend and state

function statePath(): string {
  if (!existsSync(BACKEND_FILE))
    diagnostic('Backend initialization required, please run "terraform init"', 'The stand-in found no .terraform/standin-backend.json.');
  const cfg = JSON.parse(readFileSync(BACKEND_FILE, 'utf8')) as Record<string, string>;
  if (cfg.path) return resolve(cfg.path);
  if (cfg.bucket && cfg.key) return resolve(process.env.STANDIN_STATE_DIR ?? '.terraform', 's3', cfg.bucket, cfg.key);
  return resolve('terraform.tfstate');
}

function readState(): State {
  const p = statePath();
  if (!existsSync(p)) return { version: 4, terraform_version: VERSION, serial: 0, lineage: '', resources: {}, outputs: {} };
  return JSON.parse(readFileSync(p, 'utf8')) as State;
}

function writeState(state: State) {
  const p = statePath();
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, JSON.stringify(state, null, 2));
}

const driftPath = () => `${statePath()}.drift.json`;

/** State as a refresh would see it (in memory), and the drift that refresh found. */
function refreshedState(): { state: State; drift: Change[] } {
  const state = readState();
  const real = existsSync(driftPath()) ? (JSON.parse(readFileSync(driftPath(), 'utf8')) as Record<string, unknown>) : {};
  const resources = { ...state.resources };
  const drift: Change[] = [];
  for (const [address, value] of Object.entries(real)) {
    if (!(address in resources)) continue;
    const name = address.slice('standin_value.'.length);
    const before = { id: name, value: resources[address] };
    if (value === null) {
      delete resources[address];
      drift.push({ address, name, actions: ['delete'], before, after: null });
    } else if (JSON.stringify(value) !== JSON.stringify(resources[address])) {
      resources[address] = value;
      drift.push({ address, name, actions: ['update'], before, after: { id: name, value } });
    }
  }
  return { state: { ...state, resources }, drift };
}

function readVars(): Record<string, unknown> {
  const file = flag('var-file') ?? (existsSync('terraform.tfvars.json') ? 'terraform.tfvars.json' : undefined);
  return file ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
}

const isSensitiveName = (k: string) => /secret|password|token/i.test(k);

function computePlan(destroy: boolean, refresh = has('refresh') || !flags.has('refresh')): PlanFile {
  const { state, drift } = refresh ? refreshedState() : { state: readState(), drift: [] };
  const variables = readVars();
  const spec = (destroy ? {} : ((variables.spec as Record<string, unknown>) ?? {})) as Record<string, unknown>;
  const desired: Record<string, unknown> = Object.fromEntries(Object.entries(spec).map(([k, v]) => [`standin_value.${k}`, v]));
  // A resource keyed by a variable's value, as `for_each = toset([var.x])` makes one: its address carries the value.
  const addressEnv = process.env.STANDIN_ADDRESS_ENV;
  if (addressEnv && !destroy) desired[`standin_value.${process.env.STANDIN_ADDRESS_PREFIX ?? ''}${process.env[addressEnv] ?? ''}`] = 'keyed';
  const changes: Change[] = [];
  for (const address of [...new Set([...Object.keys(state.resources), ...Object.keys(desired)])].sort()) {
    const name = address.slice('standin_value.'.length);
    const inPrior = address in state.resources;
    const inDesired = address in desired;
    const before = inPrior ? { id: name, value: state.resources[address] } : null;
    const after = inDesired ? { id: name, value: desired[address] } : null;
    let actions: Actions;
    let reason: string | undefined;
    if (!inPrior) actions = ['create'];
    else if (!inDesired) {
      actions = ['delete'];
      reason = destroy ? undefined : 'delete_because_no_resource_config';
    } else if (JSON.stringify(before) === JSON.stringify(after)) actions = ['no-op'];
    else if (typeOf(state.resources[address]) !== typeOf(desired[address])) {
      actions = ['delete', 'create'];
      reason = 'replace_because_cannot_update';
    } else actions = ['update'];
    changes.push({ address, name, actions, before, after, ...(reason ? { reason } : {}) });
  }
  const desiredOutputs: State['outputs'] = Object.fromEntries(
    Object.entries(spec).map(([k, v]) => [k, { value: v, type: typeOf(v), sensitive: isSensitiveName(k) }]),
  );
  const outputEnv = process.env.STANDIN_OUTPUT_ENV;
  if (outputEnv && !destroy) {
    const value = process.env[outputEnv] ?? '';
    desiredOutputs[`env_${outputEnv.toLowerCase()}`] = { value, type: 'string', sensitive: false };
    // Terraform records a variable set through TF_VAR_<name> in the plan (and its show -json `variables`).
    if (outputEnv.startsWith('TF_VAR_')) variables[outputEnv.slice('TF_VAR_'.length)] = value;
  }
  const outputChanges: PlanFile['outputChanges'] = {};
  for (const k of new Set([...Object.keys(state.outputs), ...Object.keys(desiredOutputs)])) {
    const b = state.outputs[k];
    const a = desiredOutputs[k];
    const actions = !b ? ['create'] : !a ? ['delete'] : JSON.stringify(a.value) === JSON.stringify(b.value) ? ['no-op'] : ['update'];
    outputChanges[k] = { actions, before: b?.value ?? null, after: a?.value ?? null, sensitive: Boolean(a?.sensitive ?? b?.sensitive) };
  }
  return {
    standin_plan: 1,
    lineage: state.lineage,
    serial: state.serial,
    destroy,
    variables,
    changes,
    outputChanges,
    desired,
    desiredOutputs,
    prior: state,
    drift,
  };
}

/** `plan -refresh-only`: the drift and the outputs re-evaluated against refreshed state; no resource changes. */
function computeRefreshPlan(): PlanFile {
  const plan = computePlan(false, true);
  return { ...plan, refreshOnly: true, changes: [], desired: plan.prior.resources };
}

const counts = (plan: PlanFile) => {
  const c = { add: 0, change: 0, import: 0, remove: 0 };
  for (const ch of plan.changes) {
    if (ch.actions.includes('create')) c.add++;
    if (ch.actions.includes('delete')) c.remove++;
    if (ch.actions[0] === 'update') c.change++;
  }
  return c;
};
const hasChanges = (plan: PlanFile) =>
  plan.changes.some((c) => c.actions[0] !== 'no-op') ||
  Object.values(plan.outputChanges).some((o) => o.actions[0] !== 'no-op') ||
  (plan.refreshOnly === true && (plan.drift ?? []).length > 0);

const actionWord: Record<string, string> = { create: 'create', update: 'update', delete: 'delete', 'delete,create': 'replace', 'create,delete': 'replace' };

function printPlan(plan: PlanFile) {
  for (const d of plan.drift ?? []) {
    ui('info', `${d.address}: Drift detected (${d.actions[0]})`, 'resource_drift', {
      change: { resource: resourceRef(d.address, d.name), action: d.actions[0] },
    });
  }
  for (const ch of plan.changes) {
    if (ch.actions[0] === 'no-op') continue;
    const action = actionWord[ch.actions.join(',')];
    ui('info', `${ch.address}: Plan to ${action}`, 'planned_change', {
      change: { resource: resourceRef(ch.address, ch.name), action, ...(ch.reason ? { reason: ch.reason } : {}) },
    });
  }
  const c = counts(plan);
  ui(
    'info',
    hasChanges(plan) ? `Plan: ${c.add} to add, ${c.change} to change, ${c.remove} to destroy.` : 'No changes. Your infrastructure matches the configuration.',
    'change_summary',
    {
      changes: { ...c, operation: 'plan' },
    },
  );
  const outs = Object.entries(plan.outputChanges).filter(([, o]) => o.actions[0] !== 'no-op');
  if (outs.length > 0)
    ui('info', `Outputs: ${outs.length}`, 'outputs', {
      outputs: Object.fromEntries(outs.map(([k, o]) => [k, { sensitive: o.sensitive, action: o.actions[0] }])),
    });
}

function applyPlan(plan: PlanFile) {
  const state = readState();
  if (state.lineage !== plan.lineage || state.serial !== plan.serial) {
    diagnostic(
      'Saved plan is stale',
      'The given plan file can no longer be applied because the state was changed by another operation after the plan was created.',
    );
  }
  for (const ch of plan.changes) {
    if (ch.actions[0] === 'no-op') continue;
    const action = actionWord[ch.actions.join(',')];
    const hook = { resource: resourceRef(ch.address, ch.name), action };
    ui('info', `${ch.address}: ${action === 'delete' ? 'Destroying' : action === 'create' ? 'Creating' : 'Modifying'}...`, 'apply_start', { hook });
    ui(
      'info',
      `${ch.address}: ${action === 'delete' ? 'Destruction' : action === 'create' ? 'Creation' : 'Modifications'} complete after 0s [id=${ch.name}]`,
      'apply_complete',
      {
        hook: { ...hook, id_key: 'id', id_value: ch.name, elapsed_seconds: 0 },
      },
    );
  }
  const lineage = state.lineage || `standin-${process.pid}-${Date.now()}`;
  writeState({ ...state, lineage, serial: state.serial + 1, resources: plan.desired, outputs: plan.desiredOutputs });
  // The applied resources are what exists now: the real world matches state again.
  if (existsSync(driftPath())) rmSync(driftPath());
  const c = counts(plan);
  ui('info', `${plan.destroy ? 'Destroy' : 'Apply'} complete! Resources: ${c.add} added, ${c.change} changed, ${c.remove} destroyed.`, 'change_summary', {
    changes: { ...c, operation: plan.destroy ? 'destroy' : 'apply' },
  });
  const outputs = Object.fromEntries(Object.entries(plan.desiredOutputs).map(([k, o]) => [k, { sensitive: o.sensitive, type: o.type, value: o.value }]));
  ui('info', `Outputs: ${Object.keys(outputs).length}`, 'outputs', { outputs });
}

function showJson(plan: PlanFile): Record<string, unknown> {
  const values = (addr: string, v: unknown) => ({
    address: addr,
    mode: 'managed',
    type: 'standin_value',
    name: addr.slice(14),
    provider_name: PROVIDER,
    schema_version: 0,
    values: { id: addr.slice(14), value: v },
    sensitive_values: isSensitiveName(addr.slice(14)) ? { value: true } : {},
  });
  const sensitiveMask = (name: string, present: boolean) => (present && isSensitiveName(name) ? { value: true } : present ? {} : false);
  return {
    format_version: '1.2',
    terraform_version: VERSION,
    variables: Object.fromEntries(Object.entries(plan.variables).map(([k, v]) => [k, { value: v }])),
    planned_values: {
      outputs: Object.fromEntries(Object.entries(plan.desiredOutputs).map(([k, o]) => [k, { sensitive: o.sensitive, type: o.type, value: o.value }])),
      root_module: { resources: Object.entries(plan.desired).map(([a, v]) => values(a, v)) },
    },
    ...(plan.drift && plan.drift.length > 0
      ? {
          resource_drift: plan.drift.map((d) => ({
            address: d.address,
            mode: 'managed',
            type: 'standin_value',
            name: d.name,
            provider_name: PROVIDER,
            change: {
              actions: d.actions,
              before: d.before,
              after: d.after,
              after_unknown: {},
              before_sensitive: {},
              after_sensitive: d.after === null ? false : {},
            },
          })),
        }
      : {}),
    resource_changes: plan.changes.map((ch) => ({
      address: ch.address,
      mode: 'managed',
      type: 'standin_value',
      name: ch.name,
      provider_name: PROVIDER,
      change: {
        actions: ch.actions,
        before: ch.before,
        after: ch.after,
        after_unknown: {},
        before_sensitive: sensitiveMask(ch.name, ch.before !== null),
        after_sensitive: sensitiveMask(ch.name, ch.after !== null),
      },
      ...(ch.reason ? { action_reason: ch.reason } : {}),
    })),
    output_changes: Object.fromEntries(
      Object.entries(plan.outputChanges).map(([k, o]) => [
        k,
        { actions: o.actions, before: o.before, after: o.after, after_unknown: false, before_sensitive: o.sensitive, after_sensitive: o.sensitive },
      ]),
    ),
    prior_state: {
      format_version: '1.0',
      terraform_version: VERSION,
      values: {
        outputs: Object.fromEntries(Object.entries(plan.prior.outputs).map(([k, o]) => [k, { sensitive: o.sensitive, type: o.type, value: o.value }])),
        root_module: { resources: Object.entries(plan.prior.resources).map(([a, v]) => values(a, v)) },
      },
    },
    configuration: {
      provider_config: { standin: { name: 'standin', full_name: PROVIDER } },
      root_module: { variables: Object.fromEntries(Object.keys(plan.variables).map((k) => [k, {}])) },
    },
    applyable: hasChanges(plan),
    complete: true,
    errored: false,
    timestamp: now(),
  };
}

// ------------------------------------------------------------ controls

async function controls() {
  if (process.env.STANDIN_CALLS)
    appendFileSync(
      process.env.STANDIN_CALLS,
      `${JSON.stringify({ command: logicalCommand, argv, cwd: process.cwd(), pid: process.pid, uid: process.getuid?.() })}\n`,
    );
  if (process.env.STANDIN_ENV_DUMP) {
    mkdirSync(process.env.STANDIN_ENV_DUMP, { recursive: true });
    writeFileSync(join(process.env.STANDIN_ENV_DUMP, `${logicalCommand}-${process.pid}.json`), JSON.stringify(process.env));
  }
  if (process.env.STANDIN_PROBE_PARENT) {
    let environ = '';
    let readable = false;
    try {
      environ = readFileSync(`/proc/${process.ppid}/environ`, 'latin1');
      readable = true;
    } catch {
      // EACCES: another uid's process.
    }
    const record = { command: logicalCommand, uid: process.getuid?.(), readable, hasTaskToken: environ.includes('STACKJOBS_TASK_TOKEN=') };
    appendFileSync(process.env.STANDIN_PROBE_PARENT, `${JSON.stringify(record)}\n`);
  }
  if (process.env.STANDIN_IGNORE_SIGINT === '1') process.on('SIGINT', () => out('standin: ignoring SIGINT\n'));
  else
    process.on('SIGINT', () => {
      ui('info', 'Interrupt received. Gracefully shutting down...', 'log');
      process.exit(1);
    });
  const sleepMs = Number(process.env.STANDIN_SLEEP_MS ?? specControls().sleepMs ?? 0);
  if (sleepMs > 0) await sleep(sleepMs);
  const echo = process.env.STANDIN_ECHO_ENV;
  // Not in show/output: their stdout is a JSON document the runner parses.
  if (echo && !['show', 'output'].includes(command)) {
    const value = process.env[echo] ?? '';
    const half = Math.floor(value.length / 2);
    out(`echo ${echo}=${value.slice(0, half)}`);
    await sleep(Number(process.env.STANDIN_ECHO_SPLIT_MS ?? 0));
    out(`${value.slice(half)}\n`);
    out(`echo ${echo} (base64)=${Buffer.from(value).toString('base64')}\n`);
  }
  const logBytes = Number(process.env.STANDIN_LOG_BYTES ?? 0);
  if (logBytes > 0 && (listEnv('STANDIN_LOG_ON').length === 0 ? ['plan'] : listEnv('STANDIN_LOG_ON')).includes(logicalCommand)) await printLog(logBytes);
  if (listEnv('STANDIN_HANG').includes(logicalCommand)) {
    out(`standin: ${logicalCommand} is hanging\n`);
    await new Promise(() => setInterval(() => undefined, 1 << 30));
  }
  if (listEnv('STANDIN_FAIL').includes(logicalCommand)) {
    const leaked = echo ? ` (while using ${echo}=${process.env[echo] ?? ''})` : '';
    diagnostic(`${logicalCommand} failed on purpose`, `STANDIN_FAIL asked this stand-in to fail ${logicalCommand}${leaked}.`);
  }
}

/** Prints `total` bytes as 100-byte numbered lines, honouring stdout backpressure. */
async function printLog(total: number) {
  const line = (i: number) => `standin log line ${String(i).padStart(10, '0')} ${'x'.repeat(100 - 29)}\n`;
  const block = 64 * 1024;
  let written = 0;
  let i = 0;
  while (written < total) {
    let s = '';
    while (s.length < block && written + s.length < total) s += line(i++);
    if (written + s.length > total) s = s.slice(0, total - written);
    written += s.length;
    if (!process.stdout.write(s)) await new Promise((r) => process.stdout.once('drain', r));
  }
}

// ------------------------------------------------------------ commands

async function main() {
  if (command === 'version') {
    if (json) out(`${JSON.stringify({ terraform_version: VERSION, platform: 'linux_amd64', provider_selections: {}, terraform_outdated: false })}\n`);
    else out(`Terraform v${VERSION}\non linux_amd64\n`);
    return;
  }
  // Like Terraform, only the streaming commands start their -json UI with a version line (not show/output).
  if (json && ['plan', 'apply', 'destroy'].includes(command)) ui('info', `Terraform ${VERSION}`, 'version', { terraform: VERSION, ui: '1.2' });
  await controls();
  switch (command) {
    case 'init': {
      const cfg: Record<string, string> = {};
      for (const kv of flags.get('backend-config') ?? []) {
        const i = kv.indexOf('=');
        if (i < 0) diagnostic('Invalid backend configuration argument', `The -backend-config value "${kv}" is not key=value.`);
        cfg[kv.slice(0, i)] = kv.slice(i + 1);
      }
      mkdirSync('.terraform', { recursive: true });
      writeFileSync(BACKEND_FILE, JSON.stringify(cfg));
      out(`\nInitializing the backend...\n\nTerraform has been successfully initialized!\n`);
      return;
    }
    case 'plan': {
      const plan = has('refresh-only') ? computeRefreshPlan() : computePlan(has('destroy'));
      printPlan(plan);
      const file = flag('out');
      if (file) writeFileSync(file, JSON.stringify(plan));
      process.exitCode = has('detailed-exitcode') && hasChanges(plan) ? 2 : 0;
      return;
    }
    case 'show': {
      const file = positional[1];
      if (!file || !json) diagnostic('Unsupported use of show', 'The stand-in only implements `show -json <planfile>`.');
      out(`${JSON.stringify(showJson(JSON.parse(readFileSync(file, 'utf8')) as PlanFile))}\n`);
      return;
    }
    case 'apply':
    case 'destroy': {
      if (has('refresh-only')) {
        // Terraform's `apply -refresh-only` persists the refreshed state and the re-evaluated root outputs.
        if (!has('auto-approve')) diagnostic('No -auto-approve', 'The stand-in never prompts: pass -auto-approve.');
        const plan = computeRefreshPlan();
        const state = readState();
        writeState({
          ...state,
          lineage: state.lineage || `standin-${process.pid}-${Date.now()}`,
          serial: state.serial + 1,
          resources: plan.prior.resources,
          outputs: plan.desiredOutputs,
        });
        if (existsSync(driftPath())) rmSync(driftPath());
        ui('info', 'Apply complete! Resources: 0 added, 0 changed, 0 destroyed.', 'change_summary', {
          changes: { add: 0, change: 0, import: 0, remove: 0, operation: 'refresh' },
        });
        return;
      }
      const file = positional[1];
      if (file) {
        if (flags.has('var-file') || flags.has('destroy'))
          diagnostic("Can't set variables when applying a saved plan", 'The plan file already contains the variable values.');
        let plan: PlanFile;
        try {
          plan = JSON.parse(readFileSync(file, 'utf8')) as PlanFile;
          if (plan.standin_plan !== 1) throw new Error('not a plan');
        } catch {
          diagnostic('Failed to load "' + file + '" as a plan file', 'The file is not a saved plan.');
        }
        applyPlan(plan);
        return;
      }
      if (!has('auto-approve')) diagnostic('No -auto-approve', 'The stand-in never prompts: pass -auto-approve.');
      applyPlan(computePlan(command === 'destroy' || has('destroy')));
      return;
    }
    case 'output': {
      const state = readState();
      out(
        `${JSON.stringify(Object.fromEntries(Object.entries(state.outputs).map(([k, o]) => [k, { sensitive: o.sensitive, type: o.type, value: o.value }])))}\n`,
      );
      return;
    }
    default:
      diagnostic(`Unknown command "${command}"`, 'The stand-in implements init, plan, show, apply, destroy, output and version.');
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`standin crashed: ${String(e)}\n`);
  process.exit(3);
});
