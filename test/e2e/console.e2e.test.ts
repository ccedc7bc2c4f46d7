/**
 * The web console in a real browser (Debian's Chromium through playwright-core) against local mode driving the real
 * Terraform: the built console served at `/` with the same strict Content-Security-Policy as CloudFront sends, signed
 * in with the config's tokens. What an approver, an operator and another org's user can and cannot do, every page
 * scanned by axe-core, and a screenshot of each page kept under test/artifacts/console/ (not committed).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { StackJob } from '../../lambdas/domain/schemas';
import { ensureConsoleBuilt } from '../../infra/console-build';
import { publishExampleModules, REPO_ROOT } from '../../local/local-mode';
import { launchChromium, requireChromium } from '../support/chromium';
import { startConsoleCdn, type ConsoleCdn } from '../support/console-cdn';
import { startOidcProvider, type OidcProvider } from '../support/oidc-provider';
import {
  e2eConfig,
  endJobsAwaitingApproval,
  PLANTED_SECRET,
  realTerraformRunnerEnv,
  startE2E,
  TF_PROBE_MODULE,
  TOKENS,
  type E2E,
} from '../support/e2e-harness';
import { requireTerraform } from '../support/terraform-binary';

const SUITE = 'test/e2e/console.e2e.test.ts';
const TERRAFORM = requireTerraform(SUITE);
const CHROMIUM = requireChromium(SUITE);
const describeBrowser = TERRAFORM && CHROMIUM ? describe : describe.skip;
const SHOTS = join(REPO_ROOT, 'test', 'artifacts', 'console');
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let e: E2E;
let browser: Browser;
let dataDir: string;
/** The sign-in on AWS: an OIDC provider, and the console on its own origin (CloudFront's stand-in) calling the API across origins. */
let oidc: OidcProvider;
let cdn: ConsoleCdn;
const SSO_SUBJECT = 'sso-operator@acmecorp.example';
/** Content-Security-Policy violations and uncaught page errors, across every page of every test. */
const pageProblems: string[] = [];

jest.setTimeout(180000);

beforeAll(async () => {
  if (!TERRAFORM || !CHROMIUM) return;
  mkdirSync(SHOTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'stackjobs-console-'));
  publishExampleModules(dataDir, join(__dirname, '..', 'fixtures', 'modules'));
  const config = e2eConfig();
  config.catalog.modules = [...(config.catalog.modules ?? []), TF_PROBE_MODULE];
  const consoleDir = ensureConsoleBuilt().dir;
  oidc = await startOidcProvider({ clientId: 'stackjobs-console', subject: SSO_SUBJECT });
  // Local mode's API takes the tokens its config lists: the ID token the provider will issue is one of them.
  config.principals.push({ token: oidc.idToken, subject: SSO_SUBJECT, orgs: ['acmecorp'], roles: ['operator', 'viewer'] });
  cdn = await startConsoleCdn(consoleDir, () => ({
    config: { mode: 'oidc', apiUrl: e.local.apiUrl, issuer: oidc.issuer, clientId: oidc.clientId, scope: 'openid profile email' },
    connectOrigins: [e.local.apiUrl, oidc.issuer],
  }));
  e = await startE2E(config, { dataDir, runnerEnv: realTerraformRunnerEnv(TERRAFORM.bin), consoleDir, corsOrigins: [cdn.url] });
  browser = await launchChromium(CHROMIUM);
}, 240000);

afterAll(async () => {
  await browser?.close();
  await endJobsAwaitingApproval(e);
  await e?.stop();
  await cdn?.stop();
  await oidc?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

afterEach(() => {
  expect(pageProblems).toEqual([]);
});

const done = (j: StackJob) => j.status.phase === 'completed';
const awaiting = (j: StackJob) => j.status.phase === 'awaiting_approval' || done(j);

function probeChange(id: string, version: string, o: { env?: string; spec?: Record<string, unknown> } = {}) {
  return {
    resource: { id, name: `${id}-name`, org: 'acmecorp', env: o.env ?? 'staging', version: { id: version, message: `change ${version}` } },
    kind: 'tf_probe',
    spec: o.spec ?? { value: 'one' },
    triggerEvent: version === 'v1' ? 'created' : 'updated',
    createdBy: 'dev@acmecorp.example',
  };
}

async function submit(body: unknown): Promise<StackJob> {
  const res = await e.call<StackJob>('POST', '/v1/stack-jobs', { body });
  if (res.status !== 201) throw new Error(`submission answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A new page, its CSP and CORS violations and uncaught errors collected. */
async function watchedPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to|CORS policy/.test(m.text())) pageProblems.push(m.text());
  });
  page.on('pageerror', (err) => pageProblems.push(`page error: ${err.message}`));
  return page;
}

/** A new page signed in with `token` in local mode's Token form. */
async function signedIn(token: string): Promise<Page> {
  const page = await watchedPage();
  await page.goto(`${e.local.apiUrl}/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: /^Jobs in / }).waitFor();
  return page;
}

/** axe-core's serious and critical violations on the page as it is now (run through the DevTools protocol, so the CSP stays on). */
async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }> } }
    ).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

describeBrowser('the web console in a browser, against local mode and the real Terraform', () => {
  it('serves the sign-in page at / with the strict CSP, and refuses a token local mode does not know', async () => {
    const res = await fetch(`${e.local.apiUrl}/jobs/anything`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    expect(res.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(await res.text()).toContain('<div id="root">');
    // The API stays under /v1/, unchanged.
    expect((await fetch(`${e.local.apiUrl}/v1/stack-jobs`)).status).toBe(401);

    const page = await watchedPage();
    await page.goto(`${e.local.apiUrl}/`);
    expect(await axeViolations(page)).toEqual([]);
    await shoot(page, 'sign-in');
    await page.getByLabel('Token').fill('not-a-known-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/not accepted/);
    await page.close();
  });

  it('an approver finds a job waiting for approval, reads its plan and attribute diff, approves it and sees it succeed', async () => {
    const job = await e.waitFor((await submit(probeChange('console_approve', 'v1'))).metadata.id, awaiting, 90000);
    expect(job.status.phase).toBe('awaiting_approval');
    const page = await signedIn(TOKENS.approver);
    expect(await axeViolations(page)).toEqual([]);

    await page.getByRole('link', { name: job.metadata.id }).click();
    await page.getByRole('heading', { name: /console_approve-name/ }).waitFor();
    // The plan, as an approver reads it: the resource address, grouped under its action, and its attribute diff.
    await page.getByText('terraform_data.main').first().click();
    await expect(page.getByText('(known after apply)').first().isVisible()).resolves.toBe(true);
    await expect(page.getByText('"one"').first().isVisible()).resolves.toBe(true);
    expect(await axeViolations(page)).toEqual([]);
    await shoot(page, 'job-awaiting-approval');

    // Polling is conditional: an unchanged job answers 304.
    const statuses: number[] = [];
    page.on('response', (r) => {
      if (r.url().endsWith(`/v1/stack-jobs/${job.metadata.id}`)) statuses.push(r.status());
    });
    await page.waitForTimeout(5000);
    expect(statuses).toContain(304);

    await page.getByLabel('Comment').first().fill('looks right');
    await page.getByRole('button', { name: 'Approve' }).first().click();
    await page.getByRole('dialog').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('dialog').getByRole('button', { name: 'Approve' }).click();
    await page
      .getByText(/succeeded/)
      .first()
      .waitFor({ timeout: 90000 });
    const after = await e.waitFor(job.metadata.id, done, 90000);
    expect(after.status.result).toBe('succeeded');
    await page.getByText('looks right').first().waitFor();
    await shoot(page, 'job-succeeded');

    // The resource page: its latest status, outputs and history.
    await page.getByRole('link', { name: 'console_approve-name' }).first().click();
    await page.getByRole('link', { name: job.metadata.id }).first().waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await shoot(page, 'resource');
    await page.close();
  });

  it('an approver rejects with a comment, and the job says who rejected it and why', async () => {
    const job = await e.waitFor((await submit(probeChange('console_reject', 'v1'))).metadata.id, awaiting, 90000);
    const page = await signedIn(TOKENS.approver);
    await page.goto(`${e.local.apiUrl}/jobs/${job.metadata.id}`);
    await page.getByLabel('Comment').first().fill('not this week');
    await page.getByRole('button', { name: 'Reject' }).first().click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reject' }).click();
    await page
      .getByText(/rejected/)
      .first()
      .waitFor({ timeout: 60000 });
    const after = await e.waitFor(job.metadata.id, done, 60000);
    expect(after.status).toMatchObject({ result: 'cancelled', reason: 'rejected' });
    await page.getByText('not this week').first().waitFor();
    await page.close();
  });

  it('an operator sees no Approve button, and cancels a queued job', async () => {
    const holder = await e.waitFor((await submit(probeChange('console_queue', 'v1'))).metadata.id, awaiting, 90000);
    const queued = await submit(probeChange('console_queue', 'v2', { spec: { value: 'two' } }));
    await e.waitFor(queued.metadata.id, (j) => j.status.phase === 'queued' || done(j), 30000);

    const page = await signedIn(TOKENS.operator);
    await page.goto(`${e.local.apiUrl}/jobs/${holder.metadata.id}`);
    await page.getByRole('heading', { name: /console_queue-name/ }).waitFor();
    await page
      .getByText(/approver role/)
      .first()
      .waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Reject' }).count()).toBe(0);

    await page.goto(`${e.local.apiUrl}/jobs/${queued.metadata.id}`);
    await page
      .getByText(/queued/)
      .first()
      .waitFor();
    await shoot(page, 'job-queued');
    await page.getByRole('button', { name: 'Cancel', exact: true }).first().click();
    await page
      .getByRole('dialog')
      .getByRole('button', { name: /^Cancel (the )?job$/ })
      .click();
    const after = await e.waitFor(queued.metadata.id, done, 60000);
    expect(after.status.result).toBe('cancelled');
    await page
      .getByText(/cancelled/)
      .first()
      .waitFor();
    await page.close();
    await e.call('POST', `/v1/stack-jobs/${holder.metadata.id}/cancel`, { token: TOKENS.operator });
  });

  it('a failed job shows the failing operation and its error', async () => {
    const ok = await e.waitFor((await submit(probeChange('console_fail', 'v1', { env: 'dev' }))).metadata.id, done, 90000);
    expect(ok.status.result).toBe('succeeded');
    const failed = await e.waitFor((await submit(probeChange('console_fail', 'v2', { env: 'dev', spec: { failApply: true } }))).metadata.id, done, 90000);
    expect(failed.status).toMatchObject({ result: 'failed' });
    expect(failed.status.failure?.operation).toBe('apply');

    const page = await signedIn(TOKENS.operator);
    await page.goto(`${e.local.apiUrl}/jobs/${failed.metadata.id}`);
    await page.getByRole('heading', { name: /console_fail-name/ }).waitFor();
    const failure = page.getByRole('alert').filter({ hasText: 'apply' });
    await failure.first().waitFor();
    expect(await failure.first().textContent()).toContain(failed.status.failure!.message.slice(0, 40));
    // The logs carry the provisioner's own words, and the search finds them.
    await page.getByLabel('Search logs').fill('failing on purpose');
    await page
      .getByText(/provisioner failing on purpose/)
      .first()
      .waitFor({ timeout: 30000 });
    expect(await axeViolations(page)).toEqual([]);
    await shoot(page, 'job-failed');
    await page.close();
  });

  it("another org's job is not reachable by URL, and nothing of it shows", async () => {
    const list = await e.call<{ items: StackJob[] }>('GET', '/v1/stack-jobs', { query: { org: 'acmecorp', limit: '1' } });
    const acme = list.body.items[0]!;
    const page = await signedIn(TOKENS.globex);
    await page.goto(`${e.local.apiUrl}/jobs/${acme.metadata.id}`);
    await page.getByText(/No such job/).waitFor();
    const text = (await page.textContent('body')) ?? '';
    expect(text).not.toContain(acme.spec.apiResourceInfo.name);
    expect(text).not.toContain('acmecorp');
    await page.close();
  });

  it('the catalog and pre-flight pages work for an admin, with no axe violations', async () => {
    const page = await signedIn(TOKENS.admin);
    // By now the jobs of every test above: succeeded, rejected, cancelled, failed.
    await page.getByRole('link', { name: /^sj_/ }).first().waitFor();
    await shoot(page, 'jobs');
    await page.getByRole('link', { name: 'Catalog' }).click();
    await page.getByRole('heading', { name: /Catalog/ }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await shoot(page, 'catalog');
    // Credentials show their secret's reference, never its value (the harness planted one behind democred_dev).
    await page.getByRole('tab', { name: /Provider credentials/ }).click();
    await page.getByText('democred_dev').first().waitFor();
    // Each entry's whole definition opened ("Show" becomes "Hide").
    const show = page.getByRole('button', { name: /^Show/ });
    while ((await show.count()) > 0) await show.first().click();
    const catalogText = (await page.textContent('body')) ?? '';
    expect(catalogText).toContain('stackjobs/acmecorp/demo-api');
    expect(catalogText).not.toContain(PLANTED_SECRET);
    // The editor an admin writes entries in.
    await page
      .getByRole('button', { name: /^(Create|New)/ })
      .first()
      .click();
    await page.getByRole('textbox', { name: 'Definition' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);

    await page.getByRole('link', { name: 'Pre-flight' }).click();
    await page.getByLabel('Change', { exact: true }).fill(JSON.stringify(probeChange('console_preflight', 'v1', { env: 'dev' }), null, 2));
    await page.getByRole('button', { name: 'Run pre-flight' }).click();
    await page
      .getByText(/flowControl|flow control/i)
      .first()
      .waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await shoot(page, 'preflight');
    await page.close();
  });
  it('on AWS: signs in through OpenID Connect (code + PKCE) and works from its own origin across CORS: conditional polls, cancel, rerun with its Idempotency-Key', async () => {
    const waiting = await e.waitFor((await submit(probeChange('console_sso', 'v1'))).metadata.id, awaiting, 90000);
    const page = await watchedPage();
    await page.goto(`${cdn.url}/jobs/${waiting.metadata.id}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The provider's page signs the user in at once and sends the browser back to /callback with a code.
    await page.getByRole('heading', { name: /console_sso-name/ }).waitFor({ timeout: 30000 });
    expect(new URL(page.url()).pathname).toBe(`/jobs/${waiting.metadata.id}`);
    expect(oidc.exchanges).toEqual([{ clientId: oidc.clientId, redirectUri: `${cdn.url}/callback`, challengeMethod: 'S256', verified: true }]);
    await page.getByText(SSO_SUBJECT).first().waitFor();

    // The ETag is readable across origins (exposed), so polling is conditional here too.
    const statuses: number[] = [];
    page.on('response', (r) => {
      if (r.url() === `${e.local.apiUrl}/v1/stack-jobs/${waiting.metadata.id}`) statuses.push(r.status());
    });
    await page.waitForTimeout(5000);
    expect(statuses).toContain(304);

    await page.getByRole('button', { name: 'Cancel', exact: true }).first().click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel the job' }).click();
    expect((await e.waitFor(waiting.metadata.id, done, 60000)).status.result).toBe('cancelled');
    await page.getByRole('button', { name: 'Rerun' }).first().click();
    await page.getByRole('dialog').getByRole('button', { name: 'Yes, rerun' }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/jobs/') && !u.pathname.endsWith(waiting.metadata.id), { timeout: 30000 });
    const rerunId = new URL(page.url()).pathname.split('/').pop()!;
    const rerun = await e.waitFor(rerunId, awaiting, 90000);
    expect(rerun.metadata).toMatchObject({ rerunOf: waiting.metadata.id, submittedBy: SSO_SUBJECT });
    await page.close();
  });
});
