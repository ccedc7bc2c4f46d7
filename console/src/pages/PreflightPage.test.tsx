import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { examples, memberOf, renderPage, type Handlers } from '../test/support';
import { PreflightPage } from './PreflightPage';

const change = JSON.stringify(examples.ResourceChange, null, 2);
const operator = examples.Me; // operator and approver in acmecorp, viewer in globex
const failedPreflight = { passed: false, checks: examples.PreflightFailedProblem.checks };

function open(handlers: Handlers, me = operator) {
  return renderPage(<PreflightPage />, { path: '/preflight', me, handlers });
}

async function paste(text: string) {
  const user = userEvent.setup();
  await user.click(await screen.findByRole('textbox', { name: 'Change' }));
  await user.paste(text);
  return user;
}

describe('PreflightPage', () => {
  it("shows the four checks, each passed or failed, with a failed check's message", async () => {
    const { calls } = open({ 'POST /v1/preflight': { body: failedPreflight } });
    const user = await paste(change);
    await user.click(screen.getByRole('button', { name: 'Run pre-flight' }));

    expect(await screen.findByRole('heading', { name: /Checks: 2 failed/ })).toBeTruthy();
    const credential = screen.getByRole('heading', { name: /Provider credential failed/ }).closest('li')!;
    expect(within(credential).getByText('no aws credential of org acmecorp is mapped to environment staging')).toBeTruthy();
    expect(screen.getByRole('heading', { name: /IaC module failed/ })).toBeTruthy();
    expect(screen.getByRole('heading', { name: /State backend passed/ })).toBeTruthy();
    const policy = screen.getByRole('heading', { name: /Flow control policy passed/ }).closest('li')!;
    expect(within(policy).getByText('platform-default')).toBeTruthy(); // what it resolved
    // The change went as pasted.
    expect(calls.find((c) => c.path === '/v1/preflight')?.body).toEqual(examples.ResourceChange);
    // A failed pre-flight is not submitted.
    expect((screen.getByRole('button', { name: 'Submit' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('reads a change in YAML, and submits it to the new job', async () => {
    const job = { ...examples.StackJob, metadata: { ...examples.StackJob.metadata, id: 'sj_01jsrq2z9k3m4n5p6q7r8s9t0v' } };
    const { calls } = open({ 'POST /v1/preflight': { body: examples.PreflightResult }, 'POST /v1/stack-jobs': { status: 201, body: job } });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Use the example' })); // the example is YAML
    await user.click(screen.getByRole('button', { name: 'Run pre-flight' }));
    expect(await screen.findByRole('heading', { name: 'Checks: all passed' })).toBeTruthy();

    await user.click(screen.getByRole('button', { name: 'Submit' }));
    expect(await screen.findByRole('heading', { name: 'Job page sj_01jsrq2z9k3m4n5p6q7r8s9t0v' })).toBeTruthy();
    expect(calls.find((c) => c.path === '/v1/stack-jobs')?.body).toEqual(examples.ResourceChange);
  });

  it('uploads a change from a file', async () => {
    open({});
    const user = userEvent.setup();
    const file = new File([change], 'change.json', { type: 'application/json' });
    await user.upload(await screen.findByLabelText('Upload a change'), file);
    expect(await screen.findByDisplayValue(/prod-api-cluster/)).toBeTruthy();
  });

  it('shows the failed checks when submission is refused with a 422', async () => {
    open({ 'POST /v1/preflight': { body: examples.PreflightResult }, 'POST /v1/stack-jobs': { status: 422, body: examples.PreflightFailedProblem } });
    const user = await paste(change);
    await user.click(screen.getByRole('button', { name: 'Run pre-flight' }));
    await user.click(await screen.findByRole('button', { name: 'Submit' }));

    expect((await screen.findByRole('alert')).textContent).toContain('one or more pre-flight checks failed; no job was created');
    expect(screen.getByRole('heading', { name: 'Checks at submission' })).toBeTruthy();
    expect(screen.getByText(/no module for resource kind aws_rds_instance/)).toBeTruthy();
  });

  it("shows each field's problem when the API refuses the change with a 400", async () => {
    open({ 'POST /v1/preflight': { status: 400, body: examples.Problem } });
    const user = await paste(change);
    await user.click(screen.getByRole('button', { name: 'Run pre-flight' }));

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('resource change is invalid');
    expect(alert.textContent).toContain('triggerEvent: Invalid option');
    expect(alert.textContent).toContain('resource.org: Too small');
    expect(screen.queryByRole('button', { name: 'Submit' })).toBeNull();
  });

  it('says what is wrong with a change that is not YAML or JSON, without calling the API', async () => {
    const { calls } = open({});
    const user = await paste('resource: [unclosed');
    await user.click(screen.getByRole('button', { name: 'Run pre-flight' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/Not valid YAML or JSON/);
    expect(calls.some((c) => c.path === '/v1/preflight')).toBe(false);
  });

  it('offers a viewer neither pre-flight nor Submit for their org', async () => {
    const globexChange = JSON.stringify({ ...examples.ResourceChange, resource: { ...examples.ResourceChange.resource, org: 'globex' } });
    const { calls } = open({ 'POST /v1/preflight': { body: examples.PreflightResult } });
    const user = await paste(globexChange);

    expect(screen.getByText(/You may not run pre-flight or submit changes in org globex/)).toBeTruthy();
    const run = screen.getByRole('button', { name: 'Run pre-flight' }) as HTMLButtonElement;
    expect(run.disabled).toBe(true);
    await user.click(run);
    expect(screen.queryByRole('button', { name: 'Submit' })).toBeNull();
    expect(calls.some((c) => c.path === '/v1/preflight')).toBe(false);
  });

  it('tells a principal who may submit nowhere', async () => {
    open({}, memberOf('acmecorp', ['viewer'], ['read']));
    expect(await screen.findByText(/you have it in none of your orgs/)).toBeTruthy();
  });
});
