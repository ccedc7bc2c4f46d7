/** How the CLI shows a plan and a job's outcome to a person: Terraform's own symbols, colour only on a terminal. */
import type { PlanChanges } from '../lambdas/domain/plan-changes';
import type { PlanSummary, PolicyEvaluation, StackJob } from '../lambdas/domain/schemas';

export interface Paint {
  add(s: string): string;
  change(s: string): string;
  remove(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const plain: Paint = { add: (s) => s, change: (s) => s, remove: (s) => s, dim: (s) => s, bold: (s) => s };
const ansi = (code: number) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const coloured: Paint = { add: ansi(32), change: ansi(33), remove: ansi(31), dim: ansi(2), bold: ansi(1) };

/** Colour on a terminal, none when piped or when NO_COLOR is set (https://no-color.org). */
export function paintFor(out: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Paint {
  return out.isTTY && env.NO_COLOR === undefined && env.TERM !== 'dumb' ? coloured : plain;
}

const VERB: Record<string, string> = {
  create: 'will be created',
  update: 'will be updated in-place',
  replace: 'must be replaced',
  delete: 'will be destroyed',
  read: 'will be read during apply',
  import: 'will be imported',
  forget: 'will be removed from the state (not destroyed)',
  move: 'has moved',
};
const SYMBOL: Record<string, string> = { create: '+', update: '~', replace: '-/+', delete: '-', read: '<=', import: '->', forget: '.', move: '->' };

function paintAction(p: Paint, action: string, s: string): string {
  if (action === 'create' || action === 'import') return p.add(s);
  if (action === 'delete' || action === 'forget') return p.remove(s);
  return p.change(s);
}

export function summaryLine(s: PlanSummary): string {
  const parts = [`${s.add} to add`, `${s.change} to change`, `${s.destroy} to destroy`, `${s.replace} to replace`];
  if (s.import) parts.push(`${s.import} to import`);
  if (s.forget) parts.push(`${s.forget} to forget`);
  return `Plan: ${parts.join(', ')}.${s.outputChanges ? ` ${s.outputChanges} output(s) change.` : ''}`;
}

function attributeLine(p: Paint, a: { path: string; before?: string; after?: string }): string {
  if (a.before === undefined) return `${p.add('+')} ${a.path} = ${a.after}`;
  if (a.after === undefined) return `${p.remove('-')} ${a.path} = ${a.before}`;
  return `${p.change('~')} ${a.path}: ${a.before} → ${a.after}`;
}

/**
 * The plan policies' results, one line a rule: what held (deny, warn, require_approvals with its count), what could
 * not be evaluated, and what passed; then the outcome.
 */
export function renderPolicyResults(evaluation: Pick<PolicyEvaluation, 'outcome' | 'results' | 'requiredApprovals'>, p: Paint = plain): string {
  const lines = ['Plan policies:'];
  for (const r of evaluation.results) {
    const where = `${r.source === 'platform' ? 'platform' : 'org'} policy ${r.policy}, rule ${r.rule}`;
    if (r.error) lines.push(`  ${p.remove('ERROR')}  ${where}: ${r.error}`);
    else if (r.passed) lines.push(`  ${p.dim('pass ')}  ${p.dim(`${where} (${r.effect.replace('_', ' ')})`)}`);
    else if (r.effect === 'deny') lines.push(`  ${p.remove('DENY ')}  ${where}: ${r.message}`);
    else if (r.effect === 'warn') lines.push(`  ${p.change('WARN ')}  ${where}: ${r.message}`);
    else lines.push(`  ${p.change('NEEDS')}  ${where}: ${r.approvals ?? 2} distinct approvals: ${r.message}`);
  }
  // `warned` covers both a warn rule and a require_approvals rule that holds: only a warn rule is a warning.
  const warnings = evaluation.results.some((r) => !r.passed && !r.error && r.effect === 'warn');
  const needs = evaluation.requiredApprovals ? `${evaluation.requiredApprovals} distinct approvals needed` : undefined;
  const outcome: Record<PolicyEvaluation['outcome'], string> = {
    passed: 'every rule passed',
    warned: [warnings || !needs ? 'warnings for the approver' : undefined, needs].filter(Boolean).join('; '),
    denied: 'denied: the job ends before any approval; nothing is applied',
    failed: 'a rule could not be evaluated: the job ends; nothing is applied',
  };
  lines.push(`  ${p.bold(`Policy outcome: ${outcome[evaluation.outcome]}`)}`);
  return lines.join('\n');
}

/** The plan as an approver reads it: resources with their changing attributes, outputs, drift, the summary, the plan policies' results. */
export function renderPlanChanges(plan: PlanChanges & { summary: PlanSummary; digest: string; policy?: PolicyEvaluation }, p: Paint = plain): string {
  const lines: string[] = [];
  for (const r of plan.resources) {
    const because = r.replaceBecause?.length ? ` (because of ${r.replaceBecause.join(', ')})` : '';
    lines.push(`${paintAction(p, r.action, SYMBOL[r.action] ?? '~')} ${p.bold(r.address)} ${VERB[r.action] ?? r.action}${because}`);
    for (const a of r.attributes) lines.push(`    ${attributeLine(p, a)}`);
    if (r.attributesTruncated) lines.push(p.dim('    … more attributes change (see the full plan: GET /v1/stack-jobs/{id}/plan)'));
  }
  if (plan.totalResources > plan.resources.length) lines.push(p.dim(`… and ${plan.totalResources - plan.resources.length} more resources`));
  if (plan.resources.length === 0) lines.push('No resource changes.');
  if (plan.outputs.length) {
    lines.push('', 'Outputs:');
    for (const o of plan.outputs) lines.push(`    ${attributeLine(p, o)}`);
  }
  if (plan.drift.length) {
    lines.push('', 'Changed outside Stack Jobs (found by the refresh):');
    for (const d of plan.drift) {
      lines.push(`  ${p.change('~')} ${d.address}`);
      for (const a of d.attributes) lines.push(`      ${attributeLine(p, a)}`);
    }
  }
  lines.push('', `${p.bold(summaryLine(plan.summary))}  ${p.dim(`(plan digest ${plan.digest.slice(0, 12)}…)`)}`);
  if (plan.policy) lines.push('', renderPolicyResults(plan.policy, p));
  return lines.join('\n');
}

/** One line that says how a job ended, with who decided and why when a person did. */
export function outcomeLine(job: StackJob): string {
  const s = job.status;
  const head = `${job.metadata.id}  ${s.phase}/${s.result}`;
  if (s.phase !== 'completed') return head;
  const decision = s.approval?.decision;
  switch (s.reason) {
    case 'rejected':
      return `${head}  rejected${decision ? ` by ${decision.by}${decision.comment ? `: "${decision.comment}"` : ''}` : ''}; nothing was applied`;
    case 'no_changes':
      return `${head}  no changes: nothing to apply`;
    case 'approval_expired':
      return `${head}  the approval expired at ${s.approval?.expiresAt ?? '?'} without a decision; nothing was applied`;
    case 'cancelled':
      return `${head}  cancelled${s.cancelRequested ? ` by ${s.cancelRequested.by}` : ''}`;
    case 'force_cancelled':
      return `${head}  force-cancelled${s.forceCancelled ? ` by ${s.forceCancelled.by}: "${s.forceCancelled.why}"` : ''}`;
    case 'cancel_requested_during_update':
      return `${head}  applied: the cancel${s.cancelRequested ? ` by ${s.cancelRequested.by}` : ''} came during the update, which is never interrupted`;
    default:
      if (s.failure) return `${head}  ${s.reason ?? 'failed'} in ${s.failure.operation}: ${s.failure.message}`;
      return s.reason && s.reason !== 'succeeded' ? `${head}  ${s.reason}` : head;
  }
}

/** A drift report as the resource status keeps it (GET /v1/orgs/{org}/envs/{env}/resources/{resourceId}, `drift`). */
export interface DriftView {
  checkedAt: string;
  jobId: string;
  drifted: boolean;
  total: number;
  resources: Array<{ address: string; actions: string[] }>;
}

const table = (rows: string[][]): string[] => {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '));
};

/** `stackjobs drift status` / `drift check --wait`: when it was checked, by which job, whether and what drifted. */
export function renderDrift(d: DriftView, p: Paint = plain): string {
  const lines = table([
    ['CHECKED AT', 'JOB', 'DRIFTED', 'TOTAL'],
    [d.checkedAt, d.jobId, d.drifted ? 'yes' : 'no', String(d.total)],
  ]);
  if (d.resources.length) {
    lines.push('', ...table([['ADDRESS', 'ACTIONS'], ...d.resources.map((r) => [r.address, r.actions.join(', ')])]).map((l, i) => (i === 0 ? l : p.change(l))));
    if (d.total > d.resources.length) lines.push(p.dim(`… and ${d.total - d.resources.length} more`));
  } else if (!d.drifted) lines.push('', 'Nothing changed outside Stack Jobs.');
  return lines.join('\n');
}
