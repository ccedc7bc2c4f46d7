/**
 * The CEL of plan policies (README, Plan policies): compiling a rule's expression when the policy is written, and
 * evaluating it with a cost limit and a time limit. @bufbuild/cel parses and evaluates; its type checker is not
 * exported (and checks identifiers and constants only), and it has no cost limit, so both are done here:
 * - at write time, a static check over the parsed (macro-expanded) syntax tree: the variables are `plan` and `job`, every
 *   field selected from them exists, every function is one the environment defines, no message types; every operand's
 *   type is inferred (from POLICY_VARIABLES, the literals, the environment's overloads, the macros) and must fit its
 *   operator or function as CEL's type check has it (homogeneous `==` and ordering, bool conditions, `in` over a list or
 *   a map), `dyn` fitting anything; the result can be a condition; and bounds (POLICY_CEL_LIMITS: characters, nodes,
 *   nested loops);
 * - at run time, a budget: each loop iteration costs one step and each list append the elements it appends; the
 *   evaluation stops past MAX_STEPS steps (the cost limit) or past its deadline (the time limit, checked at every step).
 *   Whatever does not step is bounded by the write-time limits (a few hundred operations over values no larger than the
 *   plan). Evaluation is synchronous and in process: a stopped rule is an error, never a hang.
 * The library is loaded on first use (from the functions' shared layer when deployed, infra/sdk-layer.ts).
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a deferred load, as in lambdas/adapters/aws/sdk.ts */
import type { CelFunc, CelType } from '@bufbuild/cel';
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

/** A type as the static check infers it: `object` is a map with declared fields (the input's objects). */
export type CelShape =
  | { kind: 'dyn' | 'bool' | 'int' | 'uint' | 'double' | 'string' | 'bytes' | 'null' | 'map' | 'timestamp' | 'duration' }
  | { kind: 'list'; elem: CelShape }
  | { kind: 'object'; name: string; fields: Record<string, CelShape> };

const DYN: CelShape = { kind: 'dyn' };
const BOOL: CelShape = { kind: 'bool' };
const INT: CelShape = { kind: 'int' };
const STRING: CelShape = { kind: 'string' };
const MAP: CelShape = { kind: 'map' };
/** The element of an empty list literal: whatever is added to it (the accumulator of `map` and `filter`). Compared by identity. */
const OPEN: CelShape = { kind: 'dyn' };
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
  /** Offsets (UTF-16 code units) by expression id; the macro call each expanded macro was, by the expansion's id. */
  sourceInfo?: { positions: Record<string, number>; macroCalls?: Record<string, Expr> };
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
    readonly offset: number,
  ) {
    super(message);
  }
}

/** The line and column (in characters) of an offset in UTF-16 code units, as the parser gives them. */
function positionOf(text: string, offset: number): { line: number; column: number } {
  const before = [...text.slice(0, Math.max(0, offset))];
  const line = before.filter((c) => c === '\n').length + 1;
  const lastBreak = before.lastIndexOf('\n');
  return { line, column: before.length - lastBreak };
}

/** Operators and forms the planner handles itself (no function of that name is registered). */
const PLANNER_FORMS = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '_[?_]', '_?._', '@not_strictly_false', '__not_strictly_false__']);
/** Functions injected by the evaluator: never writable (the parser takes no `@` in names), refused anyway. */
const TICK = '@stackjobs_step';

/** How an operator is written, for messages and for finding it in the text. */
const OPERATORS: Record<string, string> = {
  '_==_': '==',
  '_!=_': '!=',
  '_<_': '<',
  '_<=_': '<=',
  '_>_': '>',
  '_>=_': '>=',
  '@in': 'in',
  '_&&_': '&&',
  '_||_': '||',
  '!_': '!',
  '-_': '-',
  '_+_': '+',
  '_-_': '-',
  '_*_': '*',
  '_/_': '/',
  '_%_': '%',
  '_?_:_': '?',
};
const ORDERED = new Set(['bool', 'int', 'uint', 'double', 'string', 'bytes', 'timestamp', 'duration']);
const NUMERIC = new Set(['int', 'uint', 'double']);

function describeShape(s: CelShape): string {
  if (s.kind === 'object') return s.name;
  if (s.kind === 'list') return `a list of ${pluralOf(s.elem)}`;
  if (s.kind === 'dyn') return 'a value of any type';
  if (s.kind === 'bytes' || s.kind === 'null') return s.kind;
  return `${/^[aeio]/.test(s.kind) ? 'an' : 'a'} ${s.kind}`;
}
function pluralOf(s: CelShape): string {
  if (s.kind === 'object') return s.name.replace(/^an? /, '').replace(/y$/, 'ie') + 's';
  if (s.kind === 'dyn') return 'values';
  return s.kind === 'bytes' ? 'bytes' : `${s.kind}s`;
}

const isA = (s: CelShape, kind: string) => s.kind === kind || s.kind === 'dyn';
const mapLike = (s: CelShape) => s.kind === 'map' || s.kind === 'object';

/**
 * Whether two values can be compared, or be the two branches of `? :`: the same type (CEL's type check is homogeneous:
 * an int is not compared with a double without a conversion), any type against `dyn`, lists by their elements, the
 * input's objects as maps.
 */
function compatible(a: CelShape, b: CelShape): boolean {
  if (a.kind === 'dyn' || b.kind === 'dyn') return true;
  if (a.kind === 'list' || b.kind === 'list') return a.kind === 'list' && b.kind === 'list' && compatible(a.elem, b.elem);
  if (a.kind === 'object' && b.kind === 'object') return a.name === b.name;
  if (mapLike(a) && mapLike(b)) return true;
  return a.kind === b.kind;
}

/** The type of a value that is either of two compatible types. */
function join(a: CelShape, b: CelShape): CelShape {
  if (a === OPEN) return b;
  if (b === OPEN) return a;
  if (a.kind === 'dyn' || b.kind === 'dyn') return DYN;
  if (a.kind === 'list' && b.kind === 'list') return list(join(a.elem, b.elem));
  return a.kind === b.kind ? a : MAP;
}

const typeKey = (s: CelShape): string => (s.kind === 'list' ? `list(${typeKey(s.elem)})` : s.kind === 'object' ? s.name : s.kind);

// ---------------------------------------------------------------- overloads, as the environment registers them

const TIMESTAMP_TYPE = 'google.protobuf.Timestamp';
const DURATION_TYPE = 'google.protobuf.Duration';

/** The environment's functions by name (CelEnv.funcs). */
interface Overloads {
  find(name: string): Iterable<CelFunc> | undefined;
}

/** Whether a value of a shape may be passed where an overload takes a type (a `dyn` value may be anything). */
function fits(s: CelShape, t: CelType): boolean {
  if (s.kind === 'dyn') return true;
  switch (t.kind) {
    case 'scalar':
      return t.scalar === 'dyn' || t.scalar === (s.kind === 'null' ? 'null_type' : s.kind);
    case 'list':
      return s.kind === 'list' && fits(s.elem, t.element);
    case 'map':
      return mapLike(s);
    default:
      return (t.name === TIMESTAMP_TYPE && s.kind === 'timestamp') || (t.name === DURATION_TYPE && s.kind === 'duration');
  }
}

function shapeOfType(t: CelType): CelShape {
  switch (t.kind) {
    case 'scalar':
      return t.scalar === 'null_type' ? { kind: 'null' } : t.scalar === 'dyn' || t.scalar === 'type' ? DYN : { kind: t.scalar };
    case 'list':
      return list(shapeOfType(t.element));
    case 'map':
      return MAP;
    default:
      return t.name === TIMESTAMP_TYPE ? { kind: 'timestamp' } : t.name === DURATION_TYPE ? { kind: 'duration' } : DYN;
  }
}

function describeType(t: CelType): string {
  if (t.kind === 'list' || t.kind === 'map') return `a ${t.kind}`;
  if (t.kind === 'object') return t.name === TIMESTAMP_TYPE ? 'a timestamp' : t.name === DURATION_TYPE ? 'a duration' : t.name;
  if (t.scalar === 'dyn') return 'any value';
  return describeShape(shapeOfType(t));
}

const orList = (items: string[]) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`);
const describeArgs = (types: readonly CelType[]) => (types.length === 1 ? describeType(types[0]) : `(${types.map(describeType).join(', ')})`);

/**
 * The result of a call of a registered function or operator, from the overloads its operands can match; throws naming
 * the function (or operator) and the operands' types when none can.
 */
function resolveOverload(funcs: Overloads, name: string, target: CelShape | undefined, args: CelShape[], offset: number): CelShape {
  const all = [...(funcs.find(name) ?? [])];
  const operator = OPERATORS[name];
  const styled = all.filter((f) => (f.target !== undefined) === (target !== undefined));
  const matching = styled.filter(
    (f) => f.arguments.length === args.length && (!target || fits(target, f.target!)) && f.arguments.every((t, i) => fits(args[i], t)),
  );
  if (matching.length > 0) {
    const results = matching.map((f) => shapeOfType(f.result));
    return results.every((r) => typeKey(r) === typeKey(results[0])) ? results[0] : DYN;
  }
  if (operator) throw new CheckError(`'${operator}' cannot be applied to ${args.map(describeShape).join(' and ')}`, offset);
  if (styled.length === 0)
    throw new CheckError(target ? `${name}() is a function, not a method: call it as ${name}(…)` : `${name}() is a method: call it as x.${name}(…)`, offset);
  const sized = styled.filter((f) => f.arguments.length === args.length);
  if (sized.length === 0) {
    const counts = [...new Set(styled.map((f) => f.arguments.length))].sort();
    throw new CheckError(`${name}() takes ${orList(counts.map(String))} argument${counts.at(-1) === 1 ? '' : 's'}, not ${args.length}`, offset);
  }
  const onTarget = target ? sized.filter((f) => fits(target, f.target!)) : sized;
  if (target && onTarget.length === 0)
    throw new CheckError(
      `${name}() cannot be called on ${describeShape(target)} (it is called on ${orList([...new Set(sized.map((f) => describeType(f.target!)))])})`,
      offset,
    );
  const takes = orList([...new Set(onTarget.map((f) => describeArgs(f.arguments)))]);
  const given = args.length === 1 ? describeShape(args[0]) : `(${args.map(describeShape).join(', ')})`;
  throw new CheckError(`${name}()${target ? ` on ${describeShape(target)}` : ''} does not take ${given} (it takes ${takes})`, offset);
}

// ---------------------------------------------------------------- the static check

interface CheckInput {
  text: string;
  positions: Record<string, number>;
  macroCalls: Record<string, Expr>;
  funcs: Overloads;
}

/**
 * The static check: infers the type of every node from POLICY_VARIABLES and the literals, through the operators, the
 * environment's functions and the macros; returns the expression's type, throws CheckError where it is wrong. Counts
 * nodes and loop depth. A `dyn` value (a resource's `before` and `after`, what is read from them) goes with anything.
 */
function checkTree(root: Expr, input: CheckInput): { nodes: number; depth: number; shape: CelShape } {
  const { text, positions, macroCalls, funcs } = input;
  let nodes = 0;
  let depth = 0;
  let maxDepth = 0;
  const scopes: Array<Record<string, CelShape>> = [];
  /** The condition of each macro under way, by its id: its type is checked with the macro's name. */
  const predicates = new Map<bigint, string>();

  /** Where a node is: the parser's offset, past the blanks it sometimes places an operator at. */
  const at = (e: Expr): number => {
    let offset = positions[String(e.id)] ?? 0;
    while (/\s/.test(text[offset] ?? '')) offset++;
    return offset;
  };
  /** Where the text of a node starts: the least offset in it (a select or a method call is placed at its dot). */
  const startOf = (e: Expr | undefined): number => {
    if (!e) return Infinity;
    const k = e.exprKind;
    const own = positions[String(e.id)] ?? Infinity;
    switch (k.case) {
      case 'selectExpr':
        return Math.min(own, startOf(k.value.operand));
      case 'callExpr':
        return Math.min(own, startOf(k.value.target), ...k.value.args.map(startOf));
      case 'comprehensionExpr':
        return Math.min(own, startOf(k.value.iterRange));
      default:
        return own;
    }
  };
  /** Where a binary operator is: its symbol, between its operands. */
  const operatorAt = (e: Expr, args: Expr[], symbol: string): number => {
    const from = startOf(args[0]);
    const found = text.lastIndexOf(symbol, startOf(args[1]) - 1);
    return Number.isFinite(from) && found >= from ? found : at(e);
  };
  const numericHint = (a: CelShape, b: CelShape) => (NUMERIC.has(a.kind) && NUMERIC.has(b.kind) ? ` (convert one side: int(…), uint(…) or double(…))` : '');

  const lookup = (name: string): CelShape | undefined => {
    for (let i = scopes.length - 1; i >= 0; i--) if (name in scopes[i]) return scopes[i][name];
    return Object.prototype.hasOwnProperty.call(POLICY_VARIABLES, name) ? POLICY_VARIABLES[name as 'plan' | 'job'] : undefined;
  };
  const select = (on: CelShape, field: string, offset: number, testOnly: boolean): CelShape => {
    if (on.kind === 'object') {
      if (!Object.prototype.hasOwnProperty.call(on.fields, field))
        throw new CheckError(`${on.name} has no field '${field}' (its fields: ${Object.keys(on.fields).join(', ')})`, offset);
      return testOnly ? BOOL : on.fields[field];
    }
    if (on.kind !== 'dyn' && on.kind !== 'map') throw new CheckError(`cannot select '${field}' from ${describeShape(on)}`, offset);
    return testOnly ? BOOL : DYN;
  };
  /** A condition: a bool, or a value of any type (checked when the rule runs). */
  const condition = (s: CelShape, e: Expr, what: string) => {
    if (isA(s, 'bool')) return;
    const macro = predicates.get(e.id);
    const message = macro ? `the condition of ${macro}() must be a bool, not ${describeShape(s)}` : `${what} must be a bool, not ${describeShape(s)}`;
    throw new CheckError(message, startOf(e));
  };

  const call = (e: Expr, name: string, target: CelShape | undefined, args: CelShape[], argExprs: Expr[]): CelShape => {
    const symbol = OPERATORS[name];
    switch (name) {
      case '_&&_':
      case '_||_':
        args.forEach((s, i) => condition(s, argExprs[i], `each side of '${symbol}'`));
        return BOOL;
      case '!_':
        condition(args[0], argExprs[0], `the operand of '!'`);
        return BOOL;
      case '@not_strictly_false':
      case '__not_strictly_false__':
        return BOOL;
      case '_?_:_': {
        condition(args[0], argExprs[0], `the condition of '? :'`);
        if (!compatible(args[1], args[2]))
          throw new CheckError(
            `the two branches of '? :' must have the same type, not ${describeShape(args[1])} and ${describeShape(args[2])}`,
            operatorAt(e, argExprs, '?'),
          );
        return join(args[1], args[2]);
      }
      case '_==_':
      case '_!=_':
        if (!compatible(args[0], args[1]))
          throw new CheckError(
            `'${symbol}' cannot compare ${describeShape(args[0])} with ${describeShape(args[1])}${numericHint(args[0], args[1])}`,
            operatorAt(e, argExprs, symbol),
          );
        return BOOL;
      case '_<_':
      case '_<=_':
      case '_>_':
      case '_>=_': {
        const [a, b] = args;
        const ordered = (s: CelShape) => s.kind === 'dyn' || ORDERED.has(s.kind);
        // CEL's standard library orders int, uint and double against each other (equality stays within one type).
        const comparable = a.kind === b.kind || a.kind === 'dyn' || b.kind === 'dyn' || (NUMERIC.has(a.kind) && NUMERIC.has(b.kind));
        if (!ordered(a) || !ordered(b) || !comparable)
          throw new CheckError(`'${symbol}' cannot compare ${describeShape(a)} with ${describeShape(b)}${numericHint(a, b)}`, operatorAt(e, argExprs, symbol));
        return BOOL;
      }
      case '@in': {
        const [item, collection] = args;
        const offset = operatorAt(e, argExprs, 'in');
        if (collection.kind !== 'list' && !mapLike(collection) && collection.kind !== 'dyn')
          throw new CheckError(`'in' needs a list or a map on its right, not ${describeShape(collection)}`, offset);
        const fitsIn = collection.kind === 'list' ? compatible(item, collection.elem) : collection.kind === 'object' ? isA(item, 'string') : true;
        if (!fitsIn) throw new CheckError(`'in' cannot look for ${describeShape(item)} in ${describeShape(collection)}`, offset);
        return BOOL;
      }
      case '_[_]':
      case '_[?_]': {
        const [on, key] = args;
        const keyKind = argExprs[1]?.exprKind;
        if (on.kind === 'list') {
          if (!isA(key, 'int')) throw new CheckError(`a list is indexed by an int, not ${describeShape(key)}`, at(e));
          return name === '_[_]' ? on.elem : DYN;
        }
        if (on.kind === 'object') {
          if (!isA(key, 'string')) throw new CheckError(`${on.name} is indexed by a field name (a string), not ${describeShape(key)}`, at(e));
          if (name === '_[_]' && keyKind?.case === 'constExpr' && keyKind.value.constantKind.case === 'stringValue')
            return select(on, String(keyKind.value.constantKind.value), at(e), false);
          return DYN;
        }
        if (on.kind === 'map' || on.kind === 'dyn') return DYN;
        throw new CheckError(`cannot index ${describeShape(on)}`, at(e));
      }
      case '_?._':
        return DYN;
      default: {
        const offset = symbol && argExprs.length === 2 ? operatorAt(e, argExprs, symbol) : at(e);
        const result = resolveOverload(funcs, name, target, args, offset);
        // list(A) + list(A): the registry's overload takes any two lists.
        if (name === '_+_' && args[0].kind === 'list' && args[1].kind === 'list') {
          if (!compatible(args[0].elem, args[1].elem))
            throw new CheckError(`'+' cannot be applied to ${describeShape(args[0])} and ${describeShape(args[1])}`, offset);
          return list(join(args[0].elem, args[1].elem));
        }
        return result;
      }
    }
  };

  const walk = (e: Expr | undefined): CelShape => {
    if (!e) return DYN;
    nodes++;
    if (nodes > POLICY_CEL_LIMITS.nodes) throw new CheckError(`the expression is too large (more than ${POLICY_CEL_LIMITS.nodes} nodes)`, at(e));
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
        if (!found) throw new CheckError(`unknown name '${k.value.name}' (the variables are plan and job)`, at(e));
        return found;
      }
      case 'selectExpr':
        return select(walk(k.value.operand), k.value.field, at(e), k.value.testOnly);
      case 'callExpr': {
        const name = k.value.function;
        if (name === TICK || (!PLANNER_FORMS.has(name) && !funcs.find(name))) throw new CheckError(`unknown function '${name}'`, at(e));
        const target = k.value.target ? walk(k.value.target) : undefined;
        const args = k.value.args.map(walk);
        return call(e, name, target, args, k.value.args);
      }
      case 'listExpr': {
        const elems = k.value.elements.map(walk);
        if (elems.length === 0) return list(OPEN);
        // A list of mixed types is a list of dyn (as `dyn([1, 'a'])` would be), not an error.
        const same = elems.every((s) => compatible(s, elems[0]));
        return list(same ? elems.reduce(join) : DYN);
      }
      case 'structExpr':
        if (k.value.messageName) throw new CheckError(`message types are not available (${k.value.messageName})`, at(e));
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') walk(entry.keyKind.value as Expr);
          walk(entry.value);
        }
        return MAP;
      case 'comprehensionExpr': {
        const c = k.value;
        const range = walk(c.iterRange);
        if (range.kind !== 'list' && range.kind !== 'dyn' && !mapLike(range)) throw new CheckError(`cannot loop over ${describeShape(range)}`, at(e));
        // A list's elements, a map's keys (the input's objects have string keys).
        const item = range.kind === 'list' ? range.elem : range.kind === 'object' ? STRING : DYN;
        const accuInit = walk(c.accuInit);
        // The macro's condition: the right side of the `&&`/`||` of all and exists, the `? :` test of the others.
        const macro = macroCalls[String(e.id)]?.exprKind;
        const step = c.loopStep?.exprKind;
        if (macro?.case === 'callExpr' && step?.case === 'callExpr') {
          const predicate =
            step.value.function === '_?_:_' ? step.value.args[0] : ['_&&_', '_||_'].includes(step.value.function) ? step.value.args[1] : undefined;
          if (predicate) predicates.set(predicate.id, macro.value.function);
        }
        scopes.push({ [c.accuVar]: accuInit, [c.iterVar]: c.iterVar2 ? DYN : item, ...(c.iterVar2 ? { [c.iterVar2]: item } : {}) });
        depth++;
        maxDepth = Math.max(maxDepth, depth);
        if (depth > POLICY_CEL_LIMITS.loopNesting)
          throw new CheckError(`loops are nested more than ${POLICY_CEL_LIMITS.loopNesting} deep (exists, all, exists_one, map and filter loop)`, at(e));
        walk(c.loopCondition);
        const stepped = walk(c.loopStep);
        depth--;
        scopes.pop();
        // What the loop accumulates: `map` and `filter` start from [] and add the elements they keep.
        scopes.push({ [c.accuVar]: compatible(accuInit, stepped) ? join(accuInit, stepped) : accuInit });
        const result = walk(c.result);
        scopes.pop();
        return result;
      }
      default:
        throw new CheckError('an expression the evaluator does not know', at(e));
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
export function compilePolicyExpression(text: string, o: { check?: boolean } = {}): CompileResult {
  const check = o.check ?? true;
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
  let checked: ReturnType<typeof checkTree>;
  try {
    checked = checkTree(parsed.expr, {
      text,
      positions: parsed.sourceInfo?.positions ?? {},
      macroCalls: parsed.sourceInfo?.macroCalls ?? {},
      funcs: env.funcs,
    });
  } catch (e) {
    if (!(e instanceof CheckError)) throw e;
    if (check) return fail(e.message, e.offset);
    checked = { nodes: 0, depth: 0, shape: { kind: 'dyn' } };
  }
  if (check && !['bool', 'dyn'].includes(checked.shape.kind))
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
