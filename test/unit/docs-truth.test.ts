/**
 * The README statements most likely to drift from the code, held to the code: the Configuration table to the zod
 * schemas the Lambdas read their environment with, the API routes section to the operations the API serves, and
 * "Dependencies and why" to package.json and to what the code imports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { submissionConfigSchema } from '../../lambdas/app/submission-context';
import { apiConfigSchema } from '../../lambdas/api/context';
import { driftDetectedConfigSchema } from '../../lambdas/app/drift-deps';
import { buildOpenApiDocument, PLATFORM_CATALOG_KINDS } from '../../lambdas/api/openapi';
import { routeDefinitions } from '../../lambdas/api/routes';
import { approvalExpiredConfigSchema, requestApprovalConfigSchema, slackInteractionsConfigSchema } from '../../lambdas/approvals/deps';
import { catalogKinds } from '../../lambdas/domain/schemas';
import { workflowConfigSchema } from '../../lambdas/workflow/deps';

const ROOT = join(__dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text under `heading` (a whole line, e.g. `## Configuration`) up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const lines = README.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`README has no heading "${heading}"`);
  const end = lines.findIndex((line, i) => i > start && new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** A markdown table's body rows as trimmed cells (header and separator dropped). */
function tableRows(text: string): string[][] {
  const rows = text
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) =>
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  return rows.slice(2);
}

const backticked = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/** Source files of the repository (not node_modules, not build output). */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(rel);
    return /\.(ts|js|mjs|cjs)$/.test(e.name) ? [rel] : [];
  });
}
const SOURCE_DIRS = ['lambdas', 'runner-image', 'local', 'cli', 'infra', 'bench', 'test', 'examples'];
const allSources = [...SOURCE_DIRS.flatMap(sources), 'eslint.config.mjs', 'jest.config.js'];
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');

describe('the Configuration table', () => {
  /**
   * Every schema a Lambda reads its environment with, by its export name, and the name the table's "read by" column
   * gives its readers (the paragraph above the table says which Lambdas those are).
   */
  const SCHEMAS: Record<string, { readers: string; schema: z.ZodObject }> = {
    apiConfigSchema: { readers: 'API', schema: apiConfigSchema },
    submissionConfigSchema: { readers: 'intake', schema: submissionConfigSchema },
    workflowConfigSchema: { readers: 'workflow', schema: workflowConfigSchema },
    requestApprovalConfigSchema: { readers: 'approval request', schema: requestApprovalConfigSchema },
    slackInteractionsConfigSchema: { readers: 'Slack interactions', schema: slackInteractionsConfigSchema },
    approvalExpiredConfigSchema: { readers: 'approval expired', schema: approvalExpiredConfigSchema },
    driftDetectedConfigSchema: { readers: 'drift detected', schema: driftDetectedConfigSchema },
  };
  const keysOf = (schema: z.ZodObject) => Object.keys(schema.shape);
  const names = (readers: string) =>
    Object.values(SCHEMAS)
      .filter((s) => new RegExp(`(^|[^\\w-])${s.readers}([^\\w-]|$)`).test(readers))
      .map((s) => s.readers);

  /** variable -> the "read by" cell of its row. */
  const rows = new Map(
    tableRows(section('## Configuration')).flatMap(([variables, readers]) =>
      backticked(variables)
        .filter((v) => /^[A-Z][A-Z0-9_]*(<[A-Z]+>)?$/.test(v))
        .map((v) => [v, readers] as const),
    ),
  );

  it('knows every schema a Lambda passes to readConfig', () => {
    const passed = new Set(sources('lambdas').flatMap((f) => [...read(f).matchAll(/readConfig\((\w+)/g)].map((m) => m[1])));
    expect([...passed].sort()).toEqual(Object.keys(SCHEMAS).sort());
  });

  it('lists every variable a schema reads, naming each reader', () => {
    expect(rows.size).toBeGreaterThan(10);
    const missing = Object.values(SCHEMAS).flatMap(({ readers, schema }) =>
      keysOf(schema)
        .filter((key) => !rows.has(key) || !names(rows.get(key)!).includes(readers))
        .map((key) => `${key} (read by ${readers})`),
    );
    expect(missing).toEqual([]);
  });

  it('names no reader that does not read the variable', () => {
    const wrong = [...rows].flatMap(([variable, readers]) =>
      names(readers)
        .filter((name) => !keysOf(Object.values(SCHEMAS).find((s) => s.readers === name)!.schema).includes(variable))
        .map((name) => `${variable} is not read by ${name}`),
    );
    expect(wrong).toEqual([]);
  });

  it('lists no variable nothing reads (outside the schemas: the SDK, Powertools, or process.env in lambdas/)', () => {
    const inSchemas = new Set(Object.values(SCHEMAS).flatMap(({ schema }) => keysOf(schema)));
    const lambdaSources = sources('lambdas').map(read).join('\n');
    const unread = [...rows.keys()].filter(
      (v) =>
        !inSchemas.has(v) && !/^(AWS_|POWERTOOLS_)/.test(v) && !lambdaSources.includes(`process.env.${v}`) && !lambdaSources.includes(`process.env['${v}']`),
    );
    expect(unread).toEqual([]);
  });
});

describe('the API routes section', () => {
  const METHOD = /^((?:GET|PUT|POST|PATCH|DELETE)(?:\/(?:GET|PUT|POST|PATCH|DELETE))*) (\/\S*)$/;
  /** Served only by local mode's HTTP server (local/local-mode.ts), never by the API, so the document lacks it. */
  const LOCAL_ONLY = ['GET /v1/events'];
  const rows = tableRows(section('### API routes'));

  /**
   * `METHOD /path` per route the section lists. A row writes `GET/PUT /a/b`, and `/c` after a route is its sibling
   * (`/a/c`, same methods); query strings are left out.
   */
  const listed = rows.flatMap(([routes]) => {
    const out: string[] = [];
    let last: { methods: string[]; parent: string } | undefined;
    for (const span of backticked(routes)) {
      const full = METHOD.exec(span);
      const path = (full ? full[2] : span).replace(/\?.*$/, '');
      if (full) last = { methods: full[1].split('/'), parent: path.replace(/\/[^/]+$/, '') };
      else if (!span.startsWith('/') || !last) continue;
      for (const method of last!.methods) out.push(`${method} ${full ? path : `${last!.parent}${path}`}`);
    }
    return out;
  });
  // The README writes the catalog's routes once with a `{kind}` segment; the router has one route per kind.
  const kindSegment = new RegExp(`/(${catalogKinds.join('|')})(?=/|$)`);
  const served = [...new Set(routeDefinitions().map((route) => `${route.method} ${route.path.replace(kindSegment, '/{kind}')}`))];

  it('covers the whole document (each operation is one route)', () => {
    const documented = Object.entries(buildOpenApiDocument(routeDefinitions()).paths).flatMap(([path, item]) =>
      Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(
      routeDefinitions()
        .map((route) => `${route.method} ${route.path}`)
        .sort(),
    );
  });

  it('lists every route the API serves', () => {
    expect(served.filter((route) => !listed.includes(route))).toEqual([]);
  });

  it("lists no route the API does not serve (local mode's own aside)", () => {
    expect(listed.filter((route) => !served.includes(route) && !LOCAL_ONLY.includes(route))).toEqual([]);
  });

  it('names every catalog kind, and at /v1/platform the kinds the platform holds', () => {
    const sentence = /Catalog kinds: ([^.]+)\./.exec(section('### API routes'))?.[1] ?? '';
    expect(backticked(sentence).sort()).toEqual([...catalogKinds].sort());
    const platformRow = rows.find(([routes]) => routes.includes('/v1/platform/{kind}/{id}'));
    expect(
      backticked(platformRow?.[0] ?? '')
        .filter((s) => /^[a-z-]+$/.test(s))
        .sort(),
    ).toEqual([...PLATFORM_CATALOG_KINDS].sort());
  });
});

describe('"Dependencies and why"', () => {
  const pkg = JSON.parse(read('package.json')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  const dependencies = Object.keys(pkg.dependencies);
  const optional = Object.keys(pkg.optionalDependencies ?? {});
  const paragraph = (() => {
    const lines = section('## Development').split('\n');
    const start = lines.findIndex((l) => l.startsWith('- Dependencies and why'));
    const end = lines.findIndex((l, i) => i > start && /^(- |#|$)/.test(l));
    return lines.slice(start, end < 0 ? undefined : end).join(' ');
  })();
  const named = backticked(paragraph);
  const covers = (name: string, dep: string) => name === dep || (name.endsWith('/*') && dep.startsWith(name.slice(0, -1)));

  /** The package each import, dynamic import or require in the repository's sources names. */
  const imported = new Set(
    allSources.flatMap((f) =>
      [...read(f).matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"./][^'"]*)['"]/g)].map((m) => {
        const parts = m[1].split('/');
        return m[1].startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      }),
    ),
  );

  it('gives every runtime dependency in package.json', () => {
    expect(paragraph.length).toBeGreaterThan(100);
    expect(dependencies.filter((dep) => !named.some((name) => covers(name, dep)))).toEqual([]);
  });

  it('gives every optional dependency (installed with the runtime ones where its platform matches)', () => {
    expect(optional.filter((dep) => !named.includes(dep))).toEqual([]);
  });

  it('names no scoped package that is not a dependency', () => {
    const all = [...dependencies, ...Object.keys(pkg.devDependencies), ...optional];
    expect(named.filter((name) => name.startsWith('@') && !all.some((dep) => covers(name, dep)))).toEqual([]);
  });

  it('says which dependencies no code imports, and those are exactly the ones', () => {
    const sentence = /Declared but imported by no code: (.+?)\. /.exec(paragraph)?.[1] ?? '';
    const saidUnused = backticked(sentence).filter((name) => dependencies.includes(name));
    expect(saidUnused.sort()).toEqual(dependencies.filter((dep) => !imported.has(dep)).sort());
  });
});
