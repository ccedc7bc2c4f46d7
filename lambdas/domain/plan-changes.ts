/**
 * The plan as an approver reads it: every resource with its action and, per resource, the attributes that change
 * (before → after; sensitive values as `(sensitive)`, unknown ones as `(known after apply)`), the output changes and the
 * drift the refresh found. Read from the masked plan document the runner stored (Terraform/OpenTofu `show -json`, or
 * Pulumi's preview JSON), so no secret the tool marks is ever in it. Bounded, so the answer fits one API response.
 * Pure: no I/O.
 */
import type { Provisioner } from './schemas';

/** What a value shows as when the tool marks it sensitive, or when it is only known after apply. */
export const SENSITIVE = '(sensitive)';
export const KNOWN_AFTER_APPLY = '(known after apply)';

export const PLAN_CHANGES_LIMITS = { resources: 200, attributes: 100, valueChars: 500 } as const;

export type ChangeAction = 'create' | 'update' | 'replace' | 'delete' | 'read' | 'import' | 'forget' | 'move' | 'no-op';

export interface AttributeChange {
  /** Dotted path into the resource's attributes (`tags.Name`, `ingress.0.port`). */
  path: string;
  before?: string;
  after?: string;
}

export interface ResourceChangeView {
  address: string;
  action: ChangeAction;
  /** Set for a replacement: the attributes that force it, as the tool says. */
  replaceBecause?: string[];
  attributes: AttributeChange[];
  /** More attributes changed than are listed. */
  attributesTruncated?: boolean;
}

export interface PlanChanges {
  provisioner: Provisioner;
  resources: ResourceChangeView[];
  /** How many resources change in all (the list holds at most PLAN_CHANGES_LIMITS.resources). */
  totalResources: number;
  outputs: AttributeChange[];
  drift: Array<{ address: string; attributes: AttributeChange[] }>;
}

type Json = unknown;
const clip = (s: string) => (s.length > PLAN_CHANGES_LIMITS.valueChars ? `${s.slice(0, PLAN_CHANGES_LIMITS.valueChars)}…` : s);

/** A leaf value as text: strings quoted like Terraform shows them, the masks as their words. */
function show(value: Json, masks: string[]): string {
  if (typeof value === 'string' && masks.includes(value)) return SENSITIVE;
  return clip(typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? 'null'));
}

const isObject = (v: Json): v is Record<string, Json> => Boolean(v) && typeof v === 'object' && !Array.isArray(v);
const isLeaf = (v: Json) => !v || typeof v !== 'object';

/** Whether the sensitivity or unknown mask marks `path` (masks mirror the value: true, or objects/arrays of masks). */
function marked(mask: Json, path: string[]): boolean {
  let m = mask;
  for (const key of path) {
    if (m === true) return true;
    if (!m || typeof m !== 'object') return false;
    m = (m as Record<string, Json>)[key];
  }
  return m === true;
}

/** The part of a mask (mirroring the value) at `path`. */
function subMask(mask: Json, path: string[]): Json {
  let m = mask;
  for (const key of path) m = m && typeof m === 'object' ? (m as Record<string, Json>)[key] : undefined;
  return m;
}

/**
 * The attributes whose value differs between before and after, walking both to their leaves. A subtree that is
 * sensitive or unknown as a whole is one change; unknown wins over a before value (`x → (known after apply)`).
 */
export function diffAttributes(
  before: Json,
  after: Json,
  o: { afterUnknown?: Json; beforeSensitive?: Json; afterSensitive?: Json; masks?: string[] } = {},
): AttributeChange[] {
  const masks = o.masks ?? [];
  const out: AttributeChange[] = [];
  const walk = (b: Json, a: Json, path: string[]) => {
    if (out.length > PLAN_CHANGES_LIMITS.attributes) return;
    const unknown = marked(o.afterUnknown, path);
    const sensitiveBefore = marked(o.beforeSensitive, path);
    const sensitiveAfter = marked(o.afterSensitive, path);
    const describe = (v: Json, sensitive: boolean) =>
      v === undefined ? undefined : sensitive ? SENSITIVE : isLeaf(v) ? show(v, masks) : clip(JSON.stringify(v));
    if (unknown) {
      out.push({
        path: path.join('.') || '(value)',
        ...(b !== undefined && b !== null ? { before: describe(b, sensitiveBefore) } : {}),
        after: KNOWN_AFTER_APPLY,
      });
      return;
    }
    if (path.length > 0 && (sensitiveBefore || sensitiveAfter)) {
      if (JSON.stringify(b) !== JSON.stringify(a) || sensitiveBefore !== sensitiveAfter) {
        out.push({
          path: path.join('.'),
          ...(b !== undefined && b !== null ? { before: describe(b, sensitiveBefore) } : {}),
          ...(a !== undefined && a !== null ? { after: describe(a, sensitiveAfter) } : {}),
        });
      }
      return;
    }
    if ((isObject(b) || b === null || b === undefined) && isObject(a) && !(b === null && path.length > 0 && Object.keys(a).length === 0)) {
      // Unknown values are left out of `after` and named only in the unknown mask: their keys come from there.
      const unknownHere = subMask(o.afterUnknown, path);
      const keys = [...new Set([...Object.keys(isObject(b) ? b : {}), ...Object.keys(a), ...(isObject(unknownHere) ? Object.keys(unknownHere) : [])])].sort();
      for (const k of keys) walk(isObject(b) ? b[k] : undefined, a[k], [...path, k]);
      return;
    }
    if (isObject(b) && (a === null || a === undefined)) {
      for (const k of Object.keys(b).sort()) walk(b[k], undefined, [...path, k]);
      return;
    }
    if (Array.isArray(a) && (Array.isArray(b) || b === null || b === undefined)) {
      const bs = Array.isArray(b) ? b : [];
      for (let i = 0; i < Math.max(a.length, bs.length); i++) walk(bs[i], a[i], [...path, String(i)]);
      return;
    }
    if (Array.isArray(b) && (a === null || a === undefined)) {
      b.forEach((v, i) => walk(v, undefined, [...path, String(i)]));
      return;
    }
    const bn = b === null ? undefined : b;
    const an = a === null ? undefined : a;
    if (JSON.stringify(bn) === JSON.stringify(an)) return;
    out.push({
      path: path.join('.') || '(value)',
      ...(bn !== undefined ? { before: describe(bn, false) } : {}),
      ...(an !== undefined ? { after: describe(an, false) } : {}),
    });
  };
  walk(before, after, []);
  return out;
}

function actionOf(actions: string[], importing: boolean, moved: boolean): ChangeAction {
  if (actions.length === 2 && actions.includes('delete') && actions.includes('create')) return 'replace';
  const a = actions[0];
  if (a === 'create' || a === 'update' || a === 'delete' || a === 'read' || a === 'forget') return a;
  if (importing) return 'import';
  if (moved) return 'move';
  return 'no-op';
}

interface TfChange {
  actions: string[];
  before?: Json;
  after?: Json;
  after_unknown?: Json;
  before_sensitive?: Json;
  after_sensitive?: Json;
  importing?: Json;
  replace_paths?: Json[][];
}

const limited = <T>(items: T[], max: number) => items.slice(0, max);

function resourceView(address: string, change: TfChange, moved: boolean, masks: string[]): ResourceChangeView {
  const attributes = diffAttributes(change.before, change.after, {
    afterUnknown: change.after_unknown,
    beforeSensitive: change.before_sensitive,
    afterSensitive: change.after_sensitive,
    masks,
  });
  const action = actionOf(change.actions, Boolean(change.importing), moved);
  return {
    address,
    action,
    ...(action === 'replace' && change.replace_paths?.length ? { replaceBecause: change.replace_paths.map((p) => p.map(String).join('.')) } : {}),
    attributes: limited(attributes, PLAN_CHANGES_LIMITS.attributes),
    ...(attributes.length > PLAN_CHANGES_LIMITS.attributes ? { attributesTruncated: true } : {}),
  };
}

/** From a (masked) `terraform show -json` plan: the resources that change, outputs, drift. */
export function changesFromTerraformPlan(plan: Record<string, unknown>, provisioner: Provisioner = 'terraform', masks: string[] = ['***']): PlanChanges {
  const rcs = (plan.resource_changes ?? []) as Array<{ address: string; previous_address?: string; change: TfChange }>;
  const changing = rcs
    .map((rc) => resourceView(rc.address, rc.change, Boolean(rc.previous_address && rc.previous_address !== rc.address), masks))
    .filter((r) => r.action !== 'no-op');
  const outputs = Object.entries((plan.output_changes ?? {}) as Record<string, TfChange>)
    .filter(([, c]) => !(c.actions.length === 1 && c.actions[0] === 'no-op'))
    .flatMap(([name, c]) => {
      const diffs = diffAttributes(c.before, c.after, {
        afterUnknown: c.after_unknown,
        beforeSensitive: c.before_sensitive,
        afterSensitive: c.after_sensitive,
        masks,
      });
      return diffs.length === 0
        ? [{ path: name, after: KNOWN_AFTER_APPLY }]
        : diffs.map((d) => ({ ...d, path: d.path === '(value)' ? name : `${name}.${d.path}` }));
    });
  const drift = ((plan.resource_drift ?? []) as Array<{ address: string; change: TfChange }>)
    .filter((d) => !(d.change.actions.length === 1 && d.change.actions[0] === 'no-op'))
    .map((d) => ({
      address: d.address,
      attributes: limited(
        diffAttributes(d.change.before, d.change.after, { beforeSensitive: d.change.before_sensitive, afterSensitive: d.change.after_sensitive, masks }),
        PLAN_CHANGES_LIMITS.attributes,
      ),
    }));
  return {
    provisioner,
    resources: limited(changing, PLAN_CHANGES_LIMITS.resources),
    totalResources: changing.length,
    outputs: limited(outputs, PLAN_CHANGES_LIMITS.attributes),
    drift: limited(drift, PLAN_CHANGES_LIMITS.resources),
  };
}

const PULUMI_ACTIONS: Record<string, ChangeAction> = {
  create: 'create',
  update: 'update',
  delete: 'delete',
  replace: 'replace',
  read: 'read',
  import: 'import',
  discard: 'forget',
  refresh: 'update',
};

interface PulumiStep {
  op: string;
  urn: string;
  oldState?: { inputs?: Json; outputs?: Json } | null;
  newState?: { inputs?: Json; outputs?: Json } | null;
  detailedDiff?: Record<string, { kind?: string; inputDiff?: boolean }> | null;
  diffReasons?: string[] | null;
  replaceReasons?: string[] | null;
}

/** Pulumi's own bookkeeping keys in inputs (`__defaults`, `__meta`) are not attributes anyone set. */
const withoutInternals = (inputs: Json): Json => (isObject(inputs) ? Object.fromEntries(Object.entries(inputs).filter(([k]) => !k.startsWith('__'))) : inputs);

/** From a (masked) Pulumi preview JSON: the steps that change something, by URN, with their inputs' differences. */
export function changesFromPulumiPreview(preview: Record<string, unknown>, masks: string[] = ['[secret]']): PlanChanges {
  const steps = ((preview.steps ?? []) as PulumiStep[]).filter(
    (s) => !s.urn.includes('::pulumi:pulumi:Stack::') && PULUMI_ACTIONS[s.op] && s.op !== 'create-replacement' && s.op !== 'delete-replaced',
  );
  const resources = steps.map((s): ResourceChangeView => {
    const attributes = diffAttributes(withoutInternals(s.oldState?.inputs ?? null), withoutInternals(s.newState?.inputs ?? null), { masks });
    const action = PULUMI_ACTIONS[s.op];
    return {
      address: s.urn,
      action,
      ...(action === 'replace' && s.replaceReasons?.length ? { replaceBecause: [...s.replaceReasons] } : {}),
      attributes: limited(attributes, PLAN_CHANGES_LIMITS.attributes),
      ...(attributes.length > PLAN_CHANGES_LIMITS.attributes ? { attributesTruncated: true } : {}),
    };
  });
  return { provisioner: 'pulumi', resources: limited(resources, PLAN_CHANGES_LIMITS.resources), totalResources: resources.length, outputs: [], drift: [] };
}

/** The plan document's changes for the job's tool. */
export function planChangesOf(provisioner: Provisioner, document: Record<string, unknown>): PlanChanges {
  return provisioner === 'pulumi' ? changesFromPulumiPreview(document) : changesFromTerraformPlan(document, provisioner);
}
