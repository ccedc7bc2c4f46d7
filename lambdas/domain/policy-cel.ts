/**
 * The CEL of plan policies (README, Plan policies): compiling a rule's expression when the policy is written, and
 * evaluating it with a cost limit and a time limit. @bufbuild/cel parses and evaluates; its type checker is not
 * exported (and checks identifiers and constants only), and it has no cost limit, so both are done here:
 * - at write time, a static check over the parsed (macro-expanded) syntax tree: the variables are `plan` and `job`, every
 *   field selected from them exists, every function is one the environment defines, no message types, the result can
 *   be a condition; and bounds: at most MAX_EXPRESSION_CHARS characters, MAX_NODES nodes, MAX_LOOP_NESTING nested loops;
 * - at run time, a budget: each loop iteration costs one step and each list append the elements it appends; the
 *   evaluation stops past MAX_STEPS steps (the cost limit) or past its deadline (the time limit, checked at every step).
 *   Whatever does not step is bounded by the write-time limits (a few hundred operations over values no larger than the
 *   plan). Evaluation is synchronous and in process: a stopped rule is an error, never a hang.
 * The library is loaded on first use (from the functions' shared layer when deployed, infra/sdk-layer.ts).
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a deferred load, as in lambdas/adapters/aws/sdk.ts */
import { lazy } from '../shared/lazy';

type Cel = typeof import('@bufbuild/cel');
const celLib = /* @__PURE__ */ lazy(() => require('@bufbuild/cel') as Cel);

export const POLICY_CEL_LIMITS = {
  /** Characters of one expression. */
  expressionChars: 2000,
  /** Nodes of the syntax tree, macros expanded (`exists` is about 8). */
  nodes: 400,
  /** Loops (exists, all, exists_one, map, filter) inside one another. */
  loopNesting: 3,
  /** Steps one rule may take: one per loop iteration, one per element a list append copies. */
  steps: 50_000,
  /**
   * Milliseconds one rule may take: the backstop. The step budget is what stops an expensive rule (50,000 steps take
   * well under this even on the smallest Lambda), so a rule stops at the same point on every machine.
   */
  ruleMillis: 1000,
} as const;

// ---------------------------------------------------------------- the declared input, for the static check

export type CelShape =
  | { kind: 'dyn' | 'bool' | 'int' | 'uint' | 'double' | 'string' | 'bytes' | 'null' | 'map' }
  | { kind: 'list'; elem: CelShape }
  | { kind: 'object'; name: string; fields: Record<string, CelShape> };

const DYN: CelShape = { kind: 'dyn' };
const BOOL: CelShape = { kind: 'bool' };
const INT: CelShape = { kind: 'int' };
const STRING: CelShape = { kind: 'string' };
const list = (elem: CelShape): CelShape => ({ kind: 'list', elem });
const object = (name: string, fields: Record<string, CelShape>): CelShape => ({ kind: 'object', name, fields });

/** What a rule sees: `plan` and `job` (lambdas/domain/plan-policy.ts builds them). */
export const POLICY_VARIABLES: Record<'plan' | 'job', CelShape> = {
  plan: object('plan', {
    summary: object('plan.summary', {
      add: INT,
      change: INT,
      destroy: INT,
      replace: INT,
      read: INT,
      import: INT,
      forget: INT,
      outputChanges: INT,
    }),
    resources: list(object('a resource', { address: STRING, type: STRING, provider: STRING, actions: list(STRING), before: DYN, after: DYN })),
    outputs: list(object('an output', { name: STRING, actions: list(STRING) })),
    drift: list(object('a drift entry', { address: STRING, actions: list(STRING) })),
  }),
  job: object('job', { org: STRING, env: STRING, resourceId: STRING, kind: STRING, triggerEvent: STRING, createdBy: STRING, submittedBy: STRING }),
};

// ---------------------------------------------------------------- the syntax tree, as @bufbuild/cel parses it

interface Expr {
  id: bigint;
  exprKind:
    | { case: 'constExpr'; value: { constantKind: { case?: string; value?: unknown } } }
    | { case: 'identExpr'; value: { name: string } }
    | { case: 'selectExpr'; value: { operand?: Expr; field: string; testOnly: boolean } }
    | { case: 'callExpr'; value: { target?: Expr; function: string; args: Expr[] } }
    | { case: 'listExpr'; value: { elements: Expr[] } }
    | {
        case: 'structExpr';
        value: { messageName: string; entries: Array<{ keyKind: { case?: string; value?: unknown }; value?: Expr }> };
      }
    | {
        case: 'comprehensionExpr';
        value: {
          iterVar: string;
          iterVar2?: string;
          iterRange?: Expr;
          accuVar: string;
          accuInit?: Expr;
          loopCondition?: Expr;
          loopStep?: Expr;
          result?: Expr;
        };
      }
    | { case: undefined; value?: undefined };
}

interface Parsed {
  expr: Expr;
  sourceInfo?: { positions: Record<string, number> };
}

/** Where an expression is wrong: 1-based line and column, with what is wrong there. */
export interface CelProblem {
  message: string;
  line: number;
  column: number;
}

export const describeProblem = (p: CelProblem) => `line ${p.line}, column ${p.column}: ${p.message}`;

class CheckError extends Error {
  constructor(
    message: string,
    readonly exprId: bigint | undefined,
  ) {
    super(message);
  }
}

function positionOf(text: string, offset: number): { line: number; column: number } {
  const before = [...text].slice(0, Math.max(0, offset));
  const line = before.filter((c) => c === '\n').length + 1;
  const lastBreak = before.lastIndexOf('\n');
  return { line, column: before.length - lastBreak };
}

/** Operators and forms the planner handles itself (no function of that name is registered). */
const PLANNER_FORMS = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '_[?_]', '_?._', '@not_strictly_false', '__not_strictly_false__']);
const BOOL_RESULTS = new Set([
  '_==_',
  '_!=_',
  '_<_',
  '_<=_',
  '_>_',
  '_>=_',
  '@in',
  '!_',
  '_&&_',
  '_||_',
  'startsWith',
  'endsWith',
  'contains',
  'matches',
  '@not_strictly_false',
]);
/** Functions injected by the evaluator: never writable (the parser takes no `@` in names), refused anyway. */
const TICK = '@stackjobs_step';

const describeShape = (s: CelShape): string => (s.kind === 'object' ? s.name : `${/^[aeiou]/.test(s.kind) ? 'an' : 'a'} ${s.kind}`);

/** The static check: returns the expression's shape, throws CheckError naming the node. Counts nodes and loop depth. */
function checkTree(root: Expr, isFunction: (name: string) => boolean): { nodes: number; depth: number; shape: CelShape } {
  let nodes = 0;
  let depth = 0;
  let maxDepth = 0;
  const scopes: Array<Record<string, CelShape>> = [];
  const lookup = (name: string): CelShape | undefined => {
    for (let i = scopes.length - 1; i >= 0; i--) if (name in scopes[i]) return scopes[i][name];
    return Object.prototype.hasOwnProperty.call(POLICY_VARIABLES, name) ? POLICY_VARIABLES[name as 'plan' | 'job'] : undefined;
  };
  const select = (on: CelShape, field: string, id: bigint, testOnly: boolean): CelShape => {
    if (on.kind === 'object') {
      if (!Object.prototype.hasOwnProperty.call(on.fields, field))
        throw new CheckError(`${on.name} has no field '${field}' (its fields: ${Object.keys(on.fields).join(', ')})`, id);
      return testOnly ? BOOL : on.fields[field];
    }
    if (on.kind !== 'dyn' && on.kind !== 'map') throw new CheckError(`cannot select '${field}' from ${describeShape(on)}`, id);
    return testOnly ? BOOL : DYN;
  };
  const walk = (e: Expr | undefined): CelShape => {
    if (!e) return DYN;
    nodes++;
    if (nodes > POLICY_CEL_LIMITS.nodes) throw new CheckError(`the expression is too large (more than ${POLICY_CEL_LIMITS.nodes} nodes)`, e.id);
    const k = e.exprKind;
    switch (k.case) {
      case 'constExpr':
        switch (k.value.constantKind.case) {
          case 'boolValue':
            return BOOL;
          case 'int64Value':
            return INT;
          case 'uint64Value':
            return { kind: 'uint' };
          case 'doubleValue':
            return { kind: 'double' };
          case 'stringValue':
            return STRING;
          case 'bytesValue':
            return { kind: 'bytes' };
          case 'nullValue':
            return { kind: 'null' };
          default:
            return DYN;
        }
      case 'identExpr': {
        const found = lookup(k.value.name);
        if (!found) throw new CheckError(`unknown name '${k.value.name}' (the variables are plan and job)`, e.id);
        return found;
      }
      case 'selectExpr':
        return select(walk(k.value.operand), k.value.field, e.id, k.value.testOnly);
      case 'callExpr': {
        const name = k.value.function;
        if (name === TICK || (!PLANNER_FORMS.has(name) && !isFunction(name))) throw new CheckError(`unknown function '${name}'`, e.id);
        // A method's receiver is checked like any operand (its shape does not choose the overload here).
        if (k.value.target) walk(k.value.target);
        const args = k.value.args.map(walk);
        if (name === '_[_]' || name === '_[?_]') {
          const [on] = args;
          const key = k.value.args[1]?.exprKind;
          if (on.kind === 'list') return on.elem;
          if (on.kind === 'object' && key?.case === 'constExpr' && key.value.constantKind.case === 'stringValue')
            return select(on, String(key.value.constantKind.value), e.id, false);
          return DYN;
        }
        if (name === 'size') return INT;
        if (BOOL_RESULTS.has(name)) return BOOL;
        if (name === '_?_:_') return args[1]?.kind === args[2]?.kind && args[1]?.kind !== 'object' && args[1]?.kind !== 'list' ? args[1] : DYN;
        return DYN;
      }
      case 'listExpr': {
        const elems = k.value.elements.map(walk);
        return list(elems.length > 0 && elems.every((s) => s.kind === elems[0].kind && s.kind !== 'object' && s.kind !== 'list') ? elems[0] : DYN);
      }
      case 'structExpr':
        if (k.value.messageName) throw new CheckError(`message types are not available (${k.value.messageName})`, e.id);
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') walk(entry.keyKind.value as Expr);
          walk(entry.value);
        }
        return { kind: 'map' };
      case 'comprehensionExpr': {
        const c = k.value;
        const range = walk(c.iterRange);
        if (range.kind !== 'list' && range.kind !== 'map' && range.kind !== 'dyn' && range.kind !== 'object')
          throw new CheckError(`cannot loop over ${describeShape(range)}`, e.id);
        const item = range.kind === 'list' ? range.elem : range.kind === 'object' ? STRING : DYN;
        const accu = walk(c.accuInit);
        scopes.push({ [c.accuVar]: accu, [c.iterVar]: c.iterVar2 ? DYN : item, ...(c.iterVar2 ? { [c.iterVar2]: item } : {}) });
        depth++;
        maxDepth = Math.max(maxDepth, depth);
        if (depth > POLICY_CEL_LIMITS.loopNesting)
          throw new CheckError(`loops are nested more than ${POLICY_CEL_LIMITS.loopNesting} deep (exists, all, exists_one, map and filter loop)`, e.id);
        walk(c.loopCondition);
        walk(c.loopStep);
        depth--;
        scopes.pop();
        scopes.push({ [c.accuVar]: accu });
        const result = walk(c.result);
        scopes.pop();
        return result;
      }
      default:
        throw new CheckError('an expression the evaluator does not know', e.id);
    }
  };
  const shape = walk(root);
  return { nodes, depth: maxDepth, shape };
}

// ---------------------------------------------------------------- the budget

interface Budget {
  steps: number;
  maxSteps: number;
  deadline: number;
  now: () => number;
  stopped?: 'cost' | 'time';
}

/** The evaluation under way (evaluation is synchronous: one at a time per process). */
let current: Budget | undefined;

class BudgetExceeded extends Error {}

function spend(units: number): void {
  const b = current;
  if (!b) return;
  b.steps += units;
  if (b.steps > b.maxSteps) {
    b.stopped = 'cost';
    throw new BudgetExceeded('cost limit');
  }
  if (b.now() > b.deadline) {
    b.stopped = 'time';
    throw new BudgetExceeded('time limit');
  }
}

/**
 * A list made by appending (the `map` and `filter` macros append one element per step): the library's own `+` nests a
 * list per append, so reading a long result is quadratic and overflows the stack on a large plan. Here an append to
 * the newest view of a buffer extends the buffer; any other append copies.
 */
const appendable = new WeakMap<object, { buffer: unknown[]; size: number }>();
function viewOf(buffer: unknown[], size: number): unknown[] {
  return new Proxy(buffer, {
    get(target, p, receiver) {
      if (p === 'length') return size;
      if (p === 'values' || p === Symbol.iterator)
        return function* () {
          for (let i = 0; i < size; i++) yield target[i];
        };
      if (typeof p === 'string' && /^\d+$/.test(p) && Number(p) >= size) return undefined;
      return Reflect.get(target, p, receiver);
    },
  });
}

interface Env {
  env: ReturnType<Cel['celEnv']>;
}

const environment = /* @__PURE__ */ lazy((): Env => {
  const { celEnv, celFunc, CelScalar, listType, celList } = celLib();
  const step = celFunc(TICK, [CelScalar.BOOL], CelScalar.BOOL, (b: boolean) => {
    spend(1);
    return b;
  });
  const append = celFunc('_+_', [listType(CelScalar.DYN), listType(CelScalar.DYN)], listType(CelScalar.DYN), (a, b) => {
    const added = [...(b as Iterable<unknown>)];
    spend(added.length);
    const known = appendable.get(a as object);
    let buffer: unknown[];
    if (known && known.buffer.length === known.size) buffer = known.buffer;
    else {
      buffer = [...(a as Iterable<unknown>)];
      spend(buffer.length);
    }
    buffer.push(...added);
    const made = celList(viewOf(buffer, buffer.length) as never);
    appendable.set(made, { buffer, size: buffer.length });
    return made as never;
  });
  return { env: celEnv({ variables: { plan: CelScalar.DYN, job: CelScalar.DYN }, funcs: [step, append] }) };
});

/** Every loop's condition is wrapped in the step function: each iteration is counted, and checked against the deadline. */
function instrument(e: Expr | undefined): void {
  if (!e) return;
  const k = e.exprKind;
  switch (k.case) {
    case 'selectExpr':
      instrument(k.value.operand);
      return;
    case 'callExpr':
      instrument(k.value.target);
      k.value.args.forEach(instrument);
      return;
    case 'listExpr':
      k.value.elements.forEach(instrument);
      return;
    case 'structExpr':
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === 'mapKey') instrument(entry.keyKind.value as Expr);
        instrument(entry.value);
      }
      return;
    case 'comprehensionExpr': {
      const c = k.value;
      for (const part of [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result]) instrument(part);
      c.loopCondition = {
        $typeName: 'cel.expr.Expr',
        id: 0n,
        exprKind: { case: 'callExpr', value: { $typeName: 'cel.expr.Expr.Call', function: TICK, args: c.loopCondition ? [c.loopCondition] : [] } },
      } as unknown as Expr;
      return;
    }
    default:
      return;
  }
}

// ---------------------------------------------------------------- compile and evaluate

/** The variables, as policyBindings makes them. */
export type PolicyBindings = { plan: unknown; job: unknown };
export type CompiledExpression = (bindings: PolicyBindings, limits?: EvaluationLimits) => EvaluationResult;

export type EvaluationResult = { ok: true; value: boolean } | { ok: false; stopped?: 'cost' | 'time'; error: string };

export interface EvaluationLimits {
  steps?: number;
  millis?: number;
  /** An absolute deadline (ms) that cuts the rule's own time limit short: the job's whole evaluation has one. */
  deadline?: number;
  now?: () => number;
}

export type CompileResult = { ok: true; evaluate: CompiledExpression; nodes: number; loopNesting: number } | { ok: false; problem: CelProblem };

/** Parses, checks and plans an expression; a problem names its line and column (1-based). */
export function compilePolicyExpression(text: string): CompileResult {
  const fail = (message: string, offset = 0): CompileResult => ({ ok: false, problem: { message, ...positionOf(text, offset) } });
  if (text.length > POLICY_CEL_LIMITS.expressionChars) return fail(`the expression is longer than ${POLICY_CEL_LIMITS.expressionChars} characters`);
  const cel = celLib();
  let parsed: Parsed;
  try {
    parsed = cel.parse(text) as unknown as Parsed;
  } catch (e) {
    const err = e as Error & { location?: { start?: { offset?: number } }; rawMessage?: string };
    const message = (err.rawMessage ?? err.message).replace(/^<input>:\d+:\d+: /, '');
    return fail(`syntax error: ${message}`, err.location?.start?.offset ?? 0);
  }
  const { env } = environment();
  const offsetOf = (id: bigint | undefined) => (id === undefined ? 0 : (parsed.sourceInfo?.positions[String(id)] ?? 0));
  let checked: ReturnType<typeof checkTree>;
  try {
    checked = checkTree(parsed.expr, (name) => (env.funcs as unknown as { find(n: string): unknown }).find(name) !== undefined);
  } catch (e) {
    if (e instanceof CheckError) return fail(e.message, offsetOf(e.exprId));
    throw e;
  }
  if (!['bool', 'dyn'].includes(checked.shape.kind))
    return fail(`the expression must be a condition (true or false), but it gives ${describeShape(checked.shape)}`);
  instrument(parsed.expr);
  let program: (ctx: PolicyBindings) => unknown;
  try {
    program = cel.plan(env, parsed as never) as unknown as (ctx: PolicyBindings) => unknown;
  } catch (e) {
    return fail((e as Error).message);
  }
  const evaluate: CompiledExpression = (bindings, limits = {}) => {
    const now = limits.now ?? Date.now;
    const started = now();
    const deadline = Math.min(started + (limits.millis ?? POLICY_CEL_LIMITS.ruleMillis), limits.deadline ?? Infinity);
    const budget: Budget = { steps: 0, maxSteps: limits.steps ?? POLICY_CEL_LIMITS.steps, deadline, now };
    const outer = current;
    current = budget;
    let value: unknown;
    try {
      // Nothing ran yet past the deadline of the job's evaluation: stop before starting.
      if (now() > deadline) {
        budget.stopped = 'time';
        throw new BudgetExceeded('time limit');
      }
      value = program(bindings);
    } catch (e) {
      if (!(e instanceof BudgetExceeded)) value = e;
    } finally {
      current = outer;
    }
    if (budget.stopped === 'cost')
      return { ok: false, stopped: 'cost', error: `stopped by the cost limit: more than ${budget.maxSteps.toLocaleString('en-US')} evaluation steps` };
    if (budget.stopped === 'time') return { ok: false, stopped: 'time', error: `stopped by the time limit of ${Math.max(0, deadline - started)} ms` };
    if (cel.isCelError(value) || value instanceof Error) return { ok: false, error: `the expression could not be evaluated: ${(value as Error).message}` };
    if (typeof value !== 'boolean') return { ok: false, error: `the expression gave ${cel.celType(value as never).toString()}, not true or false` };
    return { ok: true, value };
  };
  return { ok: true, evaluate, nodes: checked.nodes, loopNesting: checked.depth };
}

/**
 * A JSON value as the evaluator takes it: integral numbers become CEL ints (so `r.after.port == 22` and
 * `plan.summary.add + 1` work), other numbers doubles; objects become maps.
 */
export function celInput(value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(celInput);
  if (value && typeof value === 'object') {
    // A Map, not a plain object: a key such as `constructor` would make the library take a plain object for a message.
    const out = new Map<string, unknown>();
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) out.set(k, celInput(v));
    return out;
  }
  return value === undefined ? null : value;
}

/** `plan` and `job` as every rule of an evaluation takes them (converted once). */
export function policyBindings(plan: unknown, job: unknown): PolicyBindings {
  return { plan: celInput(plan), job: celInput(job) };
}
