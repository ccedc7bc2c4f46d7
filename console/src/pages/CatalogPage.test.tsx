import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { examples, memberOf, renderPage, type Handlers } from '../test/support';
import { CatalogPage } from './CatalogPage';

const orgModule = { ...examples.IacModule, id: 'acme-eks', scope: 'org' as const, org: 'acmecorp', isDefault: false };
const viewer = memberOf('acmecorp', ['viewer'], ['read']);
const admin = memberOf('acmecorp', ['admin'], ['read', 'submit', 'admin']);

function open(me: typeof viewer, handlers: Handlers, path = '/catalog?scope=org&kind=modules') {
  return renderPage(<CatalogPage />, { path, me, handlers });
}

describe('CatalogPage', () => {
  it('lists an org kind for a viewer, and offers no Create, Edit or Delete', async () => {
    open(viewer, { 'GET /v1/orgs/acmecorp/modules': { body: { items: [orgModule] } } });

    const row = (await screen.findByRole('rowheader', { name: 'acme-eks' })).closest('tr')!;
    expect(within(row).getByText('aws_eks_cluster')).toBeTruthy();
    expect(screen.getByRole('tab', { name: 'Modules' }).getAttribute('aria-selected')).toBe('true');
    expect(screen.queryByRole('button', { name: /Create/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /Edit/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /Delete/ })).toBeNull();
  });

  it('shows the full entry as JSON on expand, a credential by its secret reference only', async () => {
    open(
      viewer,
      { 'GET /v1/orgs/acmecorp/provider-credentials': { body: { items: [examples.ProviderCredential] } } },
      '/catalog?scope=org&kind=provider-credentials',
    );
    const user = userEvent.setup();
    const row = (await screen.findByRole('rowheader', { name: 'awscred_prod_account' })).closest('tr')!;
    expect(within(row).getByText('stackjobs/acmecorp/awscred_prod_account')).toBeTruthy();

    const show = screen.getByRole('button', { name: 'Show definition of awscred_prod_account' });
    expect(show.getAttribute('aria-expanded')).toBe('false');
    await user.click(show);
    expect(show.getAttribute('aria-expanded')).toBe('true');
    const detail = document.getElementById(show.getAttribute('aria-controls')!)!;
    expect(JSON.parse(detail.textContent!)).toEqual(examples.ProviderCredential);
  });

  it("shows each field's error from the API's 400 beside the definition when an admin creates a bad entry", async () => {
    const refused = {
      type: 'https://stackjobs.dev/problems/invalid-request',
      title: 'Invalid request',
      status: 400,
      detail: 'modules is invalid',
      errors: [
        { path: 'gitRepo', message: 'required' },
        { path: 'provisioner', message: 'Invalid option: expected one of "terraform"|"tofu"|"pulumi"' },
      ],
    };
    const { calls } = open(admin, {
      'GET /v1/orgs/acmecorp/modules': { body: { items: [] } },
      'PUT /v1/orgs/acmecorp/modules/acme-rds': { status: 400, body: refused },
    });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Create IaC module' }));
    await user.type(screen.getByRole('textbox', { name: 'Id' }), 'acme-rds');
    const definition = screen.getByRole('textbox', { name: 'Definition' });
    await user.clear(definition);
    await user.click(definition);
    await user.paste('resourceKind: aws_rds_instance\nprovisioner: terraforms\nbranch: main\n');
    await user.click(screen.getByRole('button', { name: 'Save' }));

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('modules is invalid');
    expect(alert.textContent).toContain('gitRepo: required');
    expect(alert.textContent).toContain('provisioner: Invalid option: expected one of "terraform"|"tofu"|"pulumi"');
    // The editor points at the problems, and stays open with what was typed.
    expect(definition.getAttribute('aria-invalid')).toBe('true');
    expect(definition.getAttribute('aria-describedby')).toContain(alert.id);
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ resourceKind: 'aws_rds_instance', provisioner: 'terraforms', branch: 'main' });
  });

  it('creates an entry, then lists it', async () => {
    let items: unknown[] = [];
    open(admin, {
      'GET /v1/orgs/acmecorp/modules': () => ({ body: { items } }),
      'PUT /v1/orgs/acmecorp/modules/acme-eks': () => {
        items = [orgModule];
        return { status: 201, body: orgModule };
      },
    });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Create IaC module' }));
    await user.type(screen.getByRole('textbox', { name: 'Id' }), 'acme-eks');
    await user.click(screen.getByRole('button', { name: 'Save' }));

    expect((await screen.findByRole('status')).textContent).toBe('Saved IaC module acme-eks.');
    expect(await screen.findByRole('rowheader', { name: 'acme-eks' })).toBeTruthy();
    expect(screen.queryByRole('textbox', { name: 'Definition' })).toBeNull();
  });

  it('edits an entry under its own id, leaving out what the API derives', async () => {
    const shown = { ...examples.ProviderCredential, externalId: 'stackjobs-3f9a1c-acmecorp' };
    const { calls } = open(
      admin,
      {
        'GET /v1/orgs/acmecorp/provider-credentials': { body: { items: [shown] } },
        'PUT /v1/orgs/acmecorp/provider-credentials/awscred_prod_account': { body: shown },
      },
      '/catalog?scope=org&kind=provider-credentials',
    );
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Edit awscred_prod_account' }));
    const id = screen.getByRole('textbox', { name: 'Id' }) as HTMLInputElement;
    expect(id.value).toBe('awscred_prod_account');
    expect(id.readOnly).toBe(true);
    await user.click(screen.getByRole('button', { name: 'Save' }));

    expect((await screen.findByRole('status')).textContent).toBe('Saved provider credential awscred_prod_account.');
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual(examples.ProviderCredential);
  });

  it('deletes an entry after confirming', async () => {
    let items: unknown[] = [orgModule];
    const { calls } = open(admin, {
      'GET /v1/orgs/acmecorp/modules': () => ({ body: { items } }),
      'DELETE /v1/orgs/acmecorp/modules/acme-eks': () => {
        items = [];
        return { status: 204 };
      },
    });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Delete acme-eks' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete IaC module acme-eks?' });
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    await user.click(within(dialog).getByRole('button', { name: 'Delete' }));

    expect(await screen.findByText('No modules yet.')).toBeTruthy();
    expect(calls.filter((c) => c.method === 'DELETE').map((c) => c.path)).toEqual(['/v1/orgs/acmecorp/modules/acme-eks']);
  });

  it("lets a platform admin write the platform's kinds, and not an org's they do not administer", async () => {
    const platformAdmin = memberOf('acmecorp', ['viewer'], ['read'], true);
    open(platformAdmin, {
      'GET /v1/orgs/acmecorp/modules': { body: { items: [orgModule] } },
      'GET /v1/platform/modules': { body: { items: [examples.IacModule] } },
    });
    const user = userEvent.setup();
    await screen.findByRole('rowheader', { name: 'acme-eks' });
    expect(screen.queryByRole('button', { name: 'Create IaC module' })).toBeNull();

    await user.click(screen.getByRole('tab', { name: 'Platform modules' }));
    expect(await screen.findByRole('rowheader', { name: 'iacmod_platform_eks_terraform' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Create IaC module' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Edit iacmod_platform_eks_terraform' })).toBeTruthy();
  });

  it('moves between kinds with the arrow keys', async () => {
    open(viewer, { 'GET /v1/orgs/acmecorp/modules': { body: { items: [] } }, 'GET /v1/orgs/acmecorp/org-settings': { body: { items: [] } } });
    const user = userEvent.setup();
    const modules = await screen.findByRole('tab', { name: 'Modules' });
    modules.focus();
    await user.keyboard('{ArrowRight}');

    const settings = screen.getByRole('tab', { name: 'Org settings' });
    expect(settings.getAttribute('aria-selected')).toBe('true');
    expect(document.activeElement).toBe(settings);
    expect(await screen.findByText('No org settings yet.')).toBeTruthy();
  });
});
