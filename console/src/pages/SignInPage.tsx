/** Sign in: a token form in local mode (the tokens of the config's `principals`), the OIDC provider's page on AWS. */
import { useState, type FormEvent } from 'react';
import { useSession } from '../auth/session';
import { ErrorNote } from '../components/common';

export function SignInPage() {
  const { config, signIn, notice } = useSession();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await signIn(token);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <h1>Stack Jobs</h1>
      {notice && <p className="notice">{notice}</p>}
      {config.mode === 'local' ? (
        <form onSubmit={(e) => void submit(e)}>
          <p>
            Local mode: sign in with one of the tokens listed under <code>principals</code> in your local configuration.
          </p>
          <label htmlFor="token">Token</label>
          <input id="token" name="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} required />
          <button type="submit" className="primary" disabled={busy}>
            Sign in
          </button>
          <ErrorNote error={error} />
        </form>
      ) : (
        <form onSubmit={(e) => void submit(e)}>
          <p>Sign in with your organization's identity provider.</p>
          <button type="submit" className="primary" disabled={busy}>
            Sign in
          </button>
          <ErrorNote error={error} />
        </form>
      )}
    </main>
  );
}
