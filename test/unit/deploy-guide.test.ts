/**
 * docs/deploy.md held to the code where it drifts: the context keys the CDK app reads, the stack outputs, the removal
 * policies, the resources an idle deployment pays for (and how many), the claim names and roles, and the Slack app
 * manifest (its request URL path and its bot scopes, derived from the Slack Web API methods the Lambdas call). With the
 * same template: the alarms and failure queues docs/architecture.md and the README name, and the context the
 * `cdk bootstrap` they show is given.
 * The facts come from the synthesized template (bundling off, as infra/asl.ts does) and from the code itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Node } from 'constructs';
import { parse as parseYaml } from 'yaml';
import { OFFLINE_CONTEXT } from '../../infra/asl';
import { buildStackJobsApp, STACK_NAME } from '../../infra/build';
import { stackPropsFromContext } from '../../infra/context';
import { SLACK_INTERACTIONS_PATH } from '../../lambdas/api/approval-routes';
import { apiConfigSchema } from '../../lambdas/api/context';
import { roleSchema } from '../../lambdas/domain/schemas';

const ROOT = join(__dirname, '../..');
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');
const GUIDE = read('docs/deploy.md');
const README = read('README.md');
const ARCHITECTURE = read('docs/architecture.md');

/** The text under `heading` (a whole line) up to the next heading of the same or a higher level. */
function section(doc: string, heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const lines = doc.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const end = lines.findIndex((line, i) => i > start && new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** Each markdown table in `text`, as its body rows of trimmed cells (header and separator dropped). */
function tables(text: string): string[][][] {
  const found: string[][][] = [];
  let current: string[][] | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      current = undefined;
      continue;
    }
    if (!current) found.push((current = []));
    current.push(
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  }
  return found.map((rows) => rows.slice(2));
}
/** The body rows of the one table in `text`. */
function tableRows(text: string): string[][] {
  const all = tables(text);
  if (all.length !== 1) throw new Error(`expected one table, found ${all.length}`);
  return all[0];
}

const backticked = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
/** CloudFormation resource types: `AWS::Service::Resource`, and the `Custom::Name` of a custom resource (CDK's own included). */
const cfnTypes = (text: string): string[] => backticked(text).filter((t) => /^(AWS::\w+::\w+|Custom::[\w-]+)$/.test(t));
const sorted = (values: Iterable<string>) => [...new Set(values)].sort();
/** The first dollar amount in a cell ("$32.85", "≤ $2.40", "**$46.10**"). */
const dollars = (cell: string): number => {
  const m = /\$(\d+(?:\.\d+)?)/.exec(cell);
  if (!m) throw new Error(`no amount in "${cell}"`);
  return Number(m[1]);
};
const leadingInt = (cell: string): number => Number(/\d+/.exec(cell)?.[0] ?? NaN);

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown }>;
}

/** Synthesizes the app as deployed (cdk-nag and bundling off) and records every `stackjobs:` context key it reads. */
function synth(context: Record<string, unknown> = {}): { template: Template; contextKeys: Set<string> } {
  const contextKeys = new Set<string>();
  const original = Node.prototype.tryGetContext;
  const spy = jest.spyOn(Node.prototype, 'tryGetContext').mockImplementation(function (this: Node, key: string) {
    if (key.startsWith('stackjobs:')) contextKeys.add(key);
    return original.call(this, key) as unknown;
  });
  try {
    const app = new App({ context: { ...OFFLINE_CONTEXT, ...context } });
    buildStackJobsApp(app, { nag: false });
    return { template: app.synth().getStackByName(STACK_NAME).template as Template, contextKeys };
  } finally {
    spy.mockRestore();
  }
}

let deployed: { template: Template; contextKeys: Set<string> };
let throwaway: Template;
beforeAll(() => {
  deployed = synth();
  throwaway = synth({ 'stackjobs:retainData': false }).template;
});

const resources = (t: Template) => Object.values(t.Resources).filter((r) => r.Type !== 'AWS::CDK::Metadata');
const countOf = (t: Template, type: string) => resources(t).filter((r) => r.Type === type).length;
const retained = (t: Template) => resources(t).filter((r) => r.DeletionPolicy === 'Retain');
const alarmsOf = (t: Template) => resources(t).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
/** What CloudWatch bills alarms by: one metric per alarm, or each metric a math expression alarm reads. */
const alarmMetricsOf = (t: Template) =>
  alarmsOf(t).reduce((sum, a) => {
    const metrics = a.Properties?.Metrics as Array<{ MetricStat?: unknown }> | undefined;
    return sum + (metrics ? metrics.filter((m) => m.MetricStat).length : 1);
  }, 0);

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}
/** Comments out of the way, so a method named in prose is not taken for a call. */
const withoutComments = (code: string) => code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');

describe('context values', () => {
  const table = () => tableRows(section(GUIDE, '### Context values'));
  const row = (key: string) => table().find(([cell]) => backticked(cell).includes(key));

  /** Keys the app read while synthesizing, plus every key infra/context.ts reads on any path. */
  const keysRead = () => {
    const inSource = [...read('infra/context.ts').matchAll(/\b(?:read|str|list|num|bool)\(node, '(\w+)'/g)].map((m) => `stackjobs:${m[1]}`);
    return sorted([...deployed.contextKeys, ...inSource]);
  };

  it('names exactly the stackjobs: keys the CDK app reads, each with a row in the table', () => {
    expect(keysRead().length).toBeGreaterThan(15);
    expect(sorted(GUIDE.match(/stackjobs:[A-Za-z]+/g) ?? [])).toEqual(keysRead());
    expect(sorted(table().flatMap(([cell]) => backticked(cell)))).toEqual(keysRead());
  });

  it('reads context in infra/context.ts only, so the keys above are all of them', () => {
    const readers = sourceFiles('infra').filter((f) => /\b(?:tryGetContext|getContext)\(/.test(withoutComments(read(f))));
    expect(readers).toEqual([join('infra', 'context.ts')]);
  });

  it('gives the defaults the code uses', () => {
    const defaults = stackPropsFromContext(new App({ context: OFFLINE_CONTEXT }).node);
    expect(backticked(row('stackjobs:principalOrgsClaim')![1])).toEqual([defaults.jwt.orgsClaim]);
    expect(backticked(row('stackjobs:principalRolesClaim')![1])).toEqual([defaults.jwt.rolesClaim]);
    const retentions = sorted(resources(deployed.template).flatMap((r) => (r.Type === 'AWS::Logs::LogGroup' ? [String(r.Properties?.RetentionInDays)] : [])));
    expect(retentions).toEqual([String(leadingInt(row('stackjobs:logRetentionDays')![1]))]);
    // retainData defaults to true: the tables are retained unless it is set to false.
    expect(row('stackjobs:retainData')![1]).toBe('`true`');
    expect(retained(deployed.template).some((r) => r.Type === 'AWS::DynamoDB::GlobalTable')).toBe(true);
    expect(retained(throwaway).some((r) => r.Type === 'AWS::DynamoDB::GlobalTable')).toBe(false);
  });
});

describe('claims and roles', () => {
  const claimTables = () => tables(section(GUIDE, '### The claims Stack Jobs reads'));

  it('names the claims the code reads by default, subject first', () => {
    const rows = claimTables()[0];
    const defaults = stackPropsFromContext(new App({ context: OFFLINE_CONTEXT }).node).jwt;
    const subject = apiConfigSchema.shape.PRINCIPAL_SUBJECT_CLAIM.parse(undefined);
    expect(rows.map(([claim]) => backticked(claim)[0])).toEqual([subject, defaults.orgsClaim, defaults.rolesClaim]);
    expect(rows.map(([, key]) => backticked(key).find((k) => k.startsWith('stackjobs:')))).toEqual([
      undefined,
      'stackjobs:principalOrgsClaim',
      'stackjobs:principalRolesClaim',
    ]);
    // The API defaults agree with the CDK app's, and the subject claim is left to its default on AWS, as the table says.
    expect([apiConfigSchema.shape.PRINCIPAL_ORGS_CLAIM.parse(undefined), apiConfigSchema.shape.PRINCIPAL_ROLES_CLAIM.parse(undefined)]).toEqual([
      defaults.orgsClaim,
      defaults.rolesClaim,
    ]);
    const envs = resources(deployed.template).flatMap((r) =>
      r.Type === 'AWS::Lambda::Function'
        ? [((r.Properties?.Environment as { Variables?: Record<string, unknown> })?.Variables ?? {}) as Record<string, unknown>]
        : [],
    );
    expect(envs.some((v) => v.PRINCIPAL_ORGS_CLAIM === defaults.orgsClaim && v.PRINCIPAL_ROLES_CLAIM === defaults.rolesClaim)).toBe(true);
    expect(envs.some((v) => 'PRINCIPAL_SUBJECT_CLAIM' in v)).toBe(false);
  });

  it('lists exactly the roles the principal can hold', () => {
    expect(claimTables()).toHaveLength(2);
    expect(claimTables()[1].map(([role]) => backticked(role)[0])).toEqual([...roleSchema.options]);
  });
});

describe('stack outputs', () => {
  it('lists every output of the stack and no other', () => {
    const listed = tableRows(section(GUIDE, '### Outputs')).map(([name]) => backticked(name)[0]);
    expect(sorted(listed)).toEqual(sorted(Object.keys(deployed.template.Outputs ?? {})));
  });
});

describe('the Slack app', () => {
  const slack = () => section(GUIDE, '## 4. Slack');
  const manifest = () => {
    const blocks = [...section(GUIDE, '### The app manifest').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks).toHaveLength(1);
    return parseYaml(blocks[0]) as {
      display_information: { name: string };
      features: { bot_user: { display_name: string } };
      oauth_config: { scopes: { bot: string[] } };
      settings: { interactivity: { is_enabled: boolean; request_url: string }; token_rotation_enabled?: boolean };
    };
  };

  /**
   * The bot scopes each Slack Web API method needs (Slack's method reference). A method the code starts calling
   * that is missing here fails the test: add its scopes here and to the manifest in docs/deploy.md.
   */
  const METHOD_SCOPES: Record<string, string[]> = {
    'chat.postMessage': ['chat:write'],
    'chat.update': ['chat:write'],
  };
  const SLACK_FAMILIES =
    'admin|api|apps|assistant|auth|bookmarks|bots|calls|canvases|chat|conversations|dialog|dnd|emoji|files|functions|migration|oauth|openid|pins|reactions|reminders|rtm|search|stars|team|tooling|usergroups|users|views|workflows';
  /** Slack Web API methods the deployed code calls: `client.chat.postMessage(…)`, `apiCall('…')` or a slack.com/api URL. */
  const methodsCalled = () =>
    sorted(
      sourceFiles('lambdas').flatMap((f) => {
        const code = withoutComments(read(f));
        return [
          ...[...code.matchAll(new RegExp(`\\.\\s*(${SLACK_FAMILIES})\\s*\\.\\s*([A-Za-z]+(?:\\.[A-Za-z]+)*)\\s*\\(`, 'g'))].map((m) => `${m[1]}.${m[2]}`),
          ...[...code.matchAll(/\bapiCall\(\s*['"`]([\w.]+)['"`]/g)].map((m) => m[1]),
          ...[...code.matchAll(/slack\.com\/api\/(\w+\.[\w.]+)/g)].map((m) => m[1]),
        ];
      }),
    );

  it('finds the Slack calls it derives the scopes from', () => {
    expect(methodsCalled()).toContain('chat.postMessage');
    for (const method of methodsCalled()) expect(slack()).toContain(`\`${method}\``);
  });

  it('asks for exactly the bot scopes the code needs', () => {
    const unknown = methodsCalled().filter((m) => !METHOD_SCOPES[m]);
    expect(unknown).toEqual([]);
    expect(sorted(manifest().oauth_config.scopes.bot)).toEqual(sorted(methodsCalled().flatMap((m) => METHOD_SCOPES[m])));
  });

  it('sends interactions to the route the API serves them on', () => {
    const { request_url, is_enabled } = manifest().settings.interactivity;
    expect(is_enabled).toBe(true);
    expect(/^https:\/\/[^/]+(\/.*)$/.exec(request_url)?.[1]).toBe(SLACK_INTERACTIONS_PATH);
    const routes = resources(deployed.template).flatMap((r) => (r.Type === 'AWS::ApiGatewayV2::Route' ? [r.Properties?.RouteKey] : []));
    expect(routes).toContain(`POST ${SLACK_INTERACTIONS_PATH}`);
    expect(JSON.stringify(deployed.template.Outputs?.SlackInteractionsUrl?.Value)).toContain(SLACK_INTERACTIONS_PATH.slice(1));
  });

  it('is a manifest Slack accepts, without token rotation (the stack never refreshes the token)', () => {
    const m = manifest();
    expect(m.display_information.name.length).toBeLessThanOrEqual(35);
    expect(m.features.bot_user.display_name).toMatch(/^[a-z0-9._-]{1,80}$/);
    expect(m.settings.token_rotation_enabled).toBe(false);
  });

  it('names the two secrets the stack creates', () => {
    const names = resources(deployed.template).flatMap((r) => (r.Type === 'AWS::SecretsManager::Secret' ? [String(r.Properties?.Name)] : []));
    expect(names).toHaveLength(2);
    expect(sorted(tableRows(section(GUIDE, '### The two secrets')).map(([name]) => backticked(name)[0]))).toEqual(sorted(names));
  });
});

describe('what the stack keeps', () => {
  const rows = () => tableRows(section(GUIDE, '### What the stack keeps and what it deletes'));
  const keptCount = (column: number) => rows().reduce((sum, r) => sum + (r[column].startsWith('kept') ? leadingInt(r[1]) : 0), 0);

  it('counts the retained resources, by default and with stackjobs:retainData=false', () => {
    expect(keptCount(2)).toBe(retained(deployed.template).length);
    expect(keptCount(3)).toBe(retained(throwaway).length);
    for (const r of retained(deployed.template)) expect(r.UpdateReplacePolicy).toBe('Retain');
  });

  it('counts the log groups the stack creates', () => {
    const logRows = rows().filter(([what]) => /log group/.test(what));
    expect(logRows.reduce((sum, r) => sum + leadingInt(r[1]), 0)).toBe(countOf(deployed.template, 'AWS::Logs::LogGroup'));
  });
});

describe('what an idle deployment costs', () => {
  const costs = () => section(GUIDE, '## 7. What an idle deployment costs');
  const billable = () => tableRows(section(GUIDE, '### Billable while nothing runs'));
  const byData = () => tableRows(section(GUIDE, '### Billable by the data you keep'));

  it('classifies every resource type the stack creates, once', () => {
    const named = cfnTypes(costs());
    expect(named.length).toBe(new Set(named).size);
    expect(sorted(named)).toEqual(sorted(resources(deployed.template).map((r) => r.Type)));
  });

  it('counts each billable resource as the template does', () => {
    const counted = [...billable().map(([, type, count]) => [type, count]), ...byData().map(([, type, count]) => [type, count])];
    for (const [typeCell, count] of counted) {
      const [type] = cfnTypes(typeCell);
      if (type) expect([type, leadingInt(count)]).toEqual([type, countOf(deployed.template, type)]);
    }
    const alarmRow = billable().find(([, type]) => cfnTypes(type)[0] === 'AWS::CloudWatch::Alarm')!;
    expect(Number(/(\d+) alarm metrics/.exec(alarmRow.join(' '))?.[1])).toBe(alarmMetricsOf(deployed.template));
  });

  it('adds up, with and without a VPC of its own, and the README quotes the same totals', () => {
    const items = billable().filter(([what]) => !/total/.test(what));
    const total = billable().find(([what]) => /total/.test(what))!;
    const sum = (rows: string[][]) => Math.round(rows.reduce((s, r) => s + dollars(r[4]), 0) * 100) / 100;
    expect(dollars(total[4])).toBe(sum(items));
    expect(dollars(total[5])).toBe(sum(items.filter((r) => !r[5].includes('none with `stackjobs:vpc`'))));
    const readme = section(README, '## Deploy');
    const quoted = /What an idle deployment costs\*\*: \$(\d+\.\d{2}) a month[^(]*\(\$(\d+\.\d{2}) with `stackjobs:vpc`\)/.exec(readme);
    expect(quoted?.slice(1).map(Number)).toEqual([dollars(total[4]), dollars(total[5])]);
  });

  it('says the prices are list prices and when they were taken', () => {
    expect(costs()).toMatch(/list prices/);
    expect(costs()).toMatch(/looked up on \d{1,2} [A-Z][a-z]+ \d{4}/);
  });
});

describe('what docs/architecture.md and the README say about alarms, failure queues and bootstrap', () => {
  /** The queues the stack creates, by construct id (`EventsInboundDlq13DD540A` is `InboundDlq`). */
  const queues = () =>
    sorted(
      Object.entries(deployed.template.Resources)
        .filter(([, r]) => r.Type === 'AWS::SQS::Queue')
        .map(([logicalId]) => logicalId.replace(/^Events/, '').replace(/[0-9A-F]{8}$/, '')),
    );
  const queueNames = (text: string) => sorted(backticked(text).filter((name) => /^[A-Z][A-Za-z]*(Dlq|Failures)$/.test(name)));
  const alarmSentence = () => ARCHITECTURE.split('\n').find((line) => line.startsWith('The observability construct adds')) ?? '';
  const readmeFailures = () => /\*\*Where things end up when they fail\*\*([\s\S]*?)\n\n/.exec(README)?.[1] ?? '';

  it('counts the alarms and the metrics they read as the template does', () => {
    const counted = /(\d+) alarms on (\d+) metrics/.exec(alarmSentence());
    expect(counted?.slice(1).map(Number)).toEqual([alarmsOf(deployed.template).length, alarmMetricsOf(deployed.template)]);
  });

  it('names every queue a failed event can end up in, and each has an alarm', () => {
    expect(queues().length).toBeGreaterThan(3);
    expect(queueNames(alarmSentence())).toEqual(queues());
    expect(queueNames(readmeFailures())).toEqual(queues());
    const alarmed = alarmsOf(deployed.template).flatMap((a) =>
      ((a.Properties?.Dimensions as Array<{ Name: string; Value: unknown }> | undefined) ?? [])
        .filter((d) => d.Name === 'QueueName')
        .map((d) => JSON.stringify(d.Value)),
    );
    const queueIds = Object.keys(deployed.template.Resources).filter((id) => deployed.template.Resources[id].Type === 'AWS::SQS::Queue');
    expect(sorted(queueIds.filter((id) => !alarmed.some((value) => value.includes(`"${id}"`))))).toEqual([]);
  });

  it('gives `cdk bootstrap` the context every synth in this repository needs', () => {
    const bootstraps = [README, ARCHITECTURE, GUIDE].flatMap((doc) => doc.match(/cdk bootstrap[^`\n]*/g) ?? []).filter((cmd) => /\baws:\/\//.test(cmd));
    expect(bootstraps.length).toBeGreaterThanOrEqual(3);
    for (const cmd of bootstraps) expect(cmd).toMatch(/stackjobs:jwtIssuer.*stackjobs:jwtAudience|\$\{CTX\[@\]\}/);
    // Nowhere is it shown bare.
    expect([README, ARCHITECTURE].flatMap((doc) => doc.match(/`npx cdk bootstrap`/g) ?? [])).toEqual([]);
  });
});

it('is linked from the README deploy section', () => {
  expect(section(README, '## Deploy')).toContain('(docs/deploy.md)');
});
