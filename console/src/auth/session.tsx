/**
 * Who is signed in, and how. Local mode: a bearer token from the config's `principals`, typed into the sign-in form
 * and kept for the tab's life (sessionStorage). AWS: OpenID Connect authorization code + PKCE against the configured
 * issuer (oidc-client-ts, loaded only in that mode). Either way the API's `GET /v1/me` says who the token is and what
 * it may do in each org; a 401 anywhere ends the session and asks to sign in again.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { apiBase, type ConsoleConfig } from '../config';
import { createApi, must, type Api, type Me } from '../api/client';

const TOKEN_KEY = 'stackjobs.token';

export type Permission = 'read' | 'submit' | 'approve' | 'admin';

export interface Session {
  config: ConsoleConfig;
  api: Api;
  /** Undefined until signed in. */
  me?: Me;
  /** Why the last session ended or sign-in failed, to show on the sign-in page. */
  notice?: string;
  /** Local mode: sign in with a token. OIDC: start the redirect to the provider. */
  signIn(token?: string): Promise<void>;
  signOut(notice?: string): void;
  can(org: string, permission: Permission): boolean;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}

/** Signed-in pages only: the session with its principal. */
export function useMe(): Session & { me: Me } {
  const s = useSession();
  if (!s.me) throw new Error('not signed in');
  return s as Session & { me: Me };
}

async function oidcManager(config: Extract<ConsoleConfig, { mode: 'oidc' }>) {
  const { UserManager, WebStorageStateStore } = await import('oidc-client-ts');
  return new UserManager({
    authority: config.issuer,
    client_id: config.clientId,
    redirect_uri: `${window.location.origin}/callback`,
    post_logout_redirect_uri: `${window.location.origin}/`,
    response_type: 'code',
    scope: config.scope ?? 'openid profile email',
    // The tab's storage for both: the tokens, and the state and PKCE verifier of a sign-in under way (whose default
    // store, localStorage, would keep an abandoned one after the tab closes).
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });
}

export function SessionProvider({ config, children, fetchImpl }: { config: ConsoleConfig; children: ReactNode; fetchImpl?: typeof fetch }) {
  const token = useRef<string | undefined>(sessionStorage.getItem(TOKEN_KEY) ?? undefined);
  const [me, setMe] = useState<Me | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [ready, setReady] = useState(false);

  const signOut = useCallback(
    (why?: string) => {
      token.current = undefined;
      sessionStorage.removeItem(TOKEN_KEY);
      setMe(undefined);
      setNotice(why);
      // Best effort: the provider's stored user goes too (a failure leaves it to expire; the session has ended here either way).
      if (config.mode === 'oidc')
        void oidcManager(config).then(
          (m) => m.removeUser(),
          () => undefined,
        );
    },
    [config],
  );

  const api = useMemo(
    () =>
      createApi({
        baseUrl: apiBase(config),
        token: () => token.current,
        onUnauthorized: () => {
          if (token.current) signOut('Your session has ended: sign in again.');
        },
        ...(fetchImpl ? { fetch: fetchImpl } : {}),
      }),
    [config, signOut, fetchImpl],
  );

  const adopt = useCallback(
    async (candidate: string) => {
      // Asked with the candidate alone: until it is accepted, a 401 is a refused sign-in, not an ended session.
      token.current = undefined;
      const answer = await api.GET('/v1/me', { cache: 'no-store', headers: { authorization: `Bearer ${candidate}` } });
      if (answer.response.status === 401) throw new Error('That token was not accepted.');
      const who = must(answer);
      token.current = candidate;
      sessionStorage.setItem(TOKEN_KEY, candidate);
      setNotice(undefined);
      setMe(who);
    },
    [api],
  );

  useEffect(() => {
    void (async () => {
      try {
        if (config.mode === 'oidc') {
          const manager = await oidcManager(config);
          const user = window.location.pathname === '/callback' ? await manager.signinRedirectCallback() : await manager.getUser();
          if (window.location.pathname === '/callback') window.history.replaceState(null, '', (user?.state as string | undefined) ?? '/');
          const pick = (u: { access_token: string; id_token?: string }) => (config.tokenType === 'access_token' ? u.access_token : u.id_token);
          // Renewed tokens (refresh token grant; the CSP forbids the hidden-iframe fallback) replace the one in use.
          manager.events.addUserLoaded((renewed) => {
            token.current = pick(renewed);
          });
          manager.events.addSilentRenewError(() => signOut('Your session could not be renewed: sign in again.'));
          const t = user && !user.expired ? pick(user) : undefined;
          if (t) await adopt(t);
        } else if (token.current) {
          await adopt(token.current);
        }
      } catch (e) {
        signOut((e as Error).message);
      } finally {
        setReady(true);
      }
    })();
  }, [config, adopt, signOut]);

  const signIn = useCallback(
    async (candidate?: string) => {
      if (config.mode === 'oidc') {
        const manager = await oidcManager(config);
        await manager.signinRedirect({ state: window.location.pathname + window.location.search });
        return;
      }
      if (!candidate?.trim()) throw new Error('Enter a token.');
      await adopt(candidate.trim());
    },
    [config, adopt],
  );

  const can = useCallback((org: string, permission: Permission) => Boolean(me?.orgs.find((o) => o.org === org)?.permissions.includes(permission)), [me]);

  const session = useMemo<Session>(() => ({ config, api, me, notice, signIn, signOut, can }), [config, api, me, notice, signIn, signOut, can]);
  if (!ready) return <p className="loading">Loading…</p>;
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}
