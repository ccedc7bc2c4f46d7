import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SessionProvider, useMe, useSession } from './session';
import { SignInPage } from '../pages/SignInPage';
import { fakeFetch, ME_OPERATOR } from '../test-support';

function Shell() {
  const { me } = useSession();
  return me ? <SignedIn /> : <SignInPage />;
}
function SignedIn() {
  const { me, api, can } = useMe();
  return (
    <div>
      <p>signed in as {me.subject}</p>
      <p>{can('acmecorp', 'submit') ? 'may submit' : 'may not submit'}</p>
      <p>{can('acmecorp', 'approve') ? 'may approve' : 'may not approve'}</p>
      <button type="button" onClick={() => void api.GET('/v1/stack-jobs', { params: { query: { org: 'acmecorp' } } })}>
        list
      </button>
    </div>
  );
}

describe('the local-mode session', () => {
  it('signs in with a token the API accepts, sends it as a bearer token, and knows what the principal may do', async () => {
    const user = userEvent.setup();
    const api = fakeFetch((r) =>
      r.url.pathname === '/v1/me' && r.headers.get('authorization') === 'Bearer good-token'
        ? { status: 200, body: ME_OPERATOR }
        : { status: 401, body: { message: 'Unauthorized' } },
    );
    render(
      <SessionProvider config={{ mode: 'local', apiUrl: 'http://api.test' }} fetchImpl={api.fetch}>
        <Shell />
      </SessionProvider>,
    );
    await user.type(await screen.findByLabelText('Token'), 'good-token');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('signed in as dev@acmecorp.example')).toBeInTheDocument();
    expect(screen.getByText('may submit')).toBeInTheDocument();
    expect(screen.getByText('may not approve')).toBeInTheDocument();
    expect(sessionStorage.getItem('stackjobs.token')).toBe('good-token');
  });

  it('refuses a token the API does not accept, and keeps nothing', async () => {
    const user = userEvent.setup();
    const api = fakeFetch(() => ({ status: 401, body: { message: 'Unauthorized' } }));
    render(
      <SessionProvider config={{ mode: 'local', apiUrl: 'http://api.test' }} fetchImpl={api.fetch}>
        <Shell />
      </SessionProvider>,
    );
    await user.type(await screen.findByLabelText('Token'), 'bad-token');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('not accepted');
    expect(sessionStorage.getItem('stackjobs.token')).toBeNull();
  });

  it('a 401 later (an expired token) ends the session and asks to sign in again', async () => {
    const user = userEvent.setup();
    sessionStorage.setItem('stackjobs.token', 'good-token');
    const api = fakeFetch((r) => (r.url.pathname === '/v1/me' ? { status: 200, body: ME_OPERATOR } : { status: 401, body: { message: 'Unauthorized' } }));
    render(
      <SessionProvider config={{ mode: 'local', apiUrl: 'http://api.test' }} fetchImpl={api.fetch}>
        <Shell />
      </SessionProvider>,
    );
    await user.click(await screen.findByRole('button', { name: 'list' }));
    expect(await screen.findByText(/sign in again/)).toBeInTheDocument();
    expect(screen.getByLabelText('Token')).toBeInTheDocument();
    expect(sessionStorage.getItem('stackjobs.token')).toBeNull();
  });
});
