import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SessionProvider, useMe, useSession } from './session';
import { SignInPage } from '../pages/SignInPage';
import { fakeApi, LOCAL, memberOf, type Handlers } from '../test/support';

const operator = memberOf('acmecorp', ['operator', 'viewer'], ['read', 'submit']);
const unauthorized = { status: 401, body: { message: 'Unauthorized' } };

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

/** The session in local mode against an API answering `handlers`: the sign-in page until signed in. */
function open(handlers: Handlers) {
  render(
    <SessionProvider config={LOCAL} fetchImpl={fakeApi(handlers).fetchImpl}>
      <Shell />
    </SessionProvider>,
  );
}

describe('the local-mode session', () => {
  it('signs in with a token the API accepts, sends it as a bearer token, and knows what the principal may do', async () => {
    const user = userEvent.setup();
    open({ 'GET /v1/me': (call) => (call.headers.get('authorization') === 'Bearer good-token' ? { body: operator } : unauthorized) });
    await user.type(await screen.findByLabelText('Token'), 'good-token');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText(`signed in as ${operator.subject}`)).toBeInTheDocument();
    expect(screen.getByText('may submit')).toBeInTheDocument();
    expect(screen.getByText('may not approve')).toBeInTheDocument();
    expect(sessionStorage.getItem('stackjobs.token')).toBe('good-token');
  });

  it('refuses a token the API does not accept, and keeps nothing', async () => {
    const user = userEvent.setup();
    open({ 'GET /v1/me': unauthorized });
    await user.type(await screen.findByLabelText('Token'), 'bad-token');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('not accepted');
    // A refused sign-in is not an ended session.
    expect(screen.queryByText(/session has ended/)).toBeNull();
    expect(sessionStorage.getItem('stackjobs.token')).toBeNull();
  });

  it('a 401 later (an expired token) ends the session and asks to sign in again', async () => {
    const user = userEvent.setup();
    sessionStorage.setItem('stackjobs.token', 'good-token');
    open({ 'GET /v1/me': { body: operator }, 'GET /v1/stack-jobs': unauthorized });
    await user.click(await screen.findByRole('button', { name: 'list' }));
    expect(await screen.findByText(/sign in again/)).toBeInTheDocument();
    expect(screen.getByLabelText('Token')).toBeInTheDocument();
    expect(sessionStorage.getItem('stackjobs.token')).toBeNull();
  });
});
