/**
 * Where the console finds its API and how it signs in: `/config.json`, written next to the console by whoever serves it
 * (local mode answers it itself; the CDK app uploads one with the deployment's API URL, issuer and client id).
 */
export type ConsoleConfig =
  | { mode: 'local'; apiUrl?: string }
  | {
      mode: 'oidc';
      /** The API's base URL, without a trailing slash. */
      apiUrl: string;
      issuer: string;
      clientId: string;
      scope?: string;
      /** Which token the API's JWT authorizer accepts: the ID token (default; its `aud` is the client id) or the access token. */
      tokenType?: 'id_token' | 'access_token';
    };

export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<ConsoleConfig> {
  const res = await fetchImpl('/config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`cannot load /config.json: HTTP ${res.status}`);
  const config = (await res.json()) as ConsoleConfig;
  if (config.mode !== 'local' && config.mode !== 'oidc') throw new Error('/config.json: mode must be "local" or "oidc"');
  return config;
}

export function apiBase(config: ConsoleConfig): string {
  return (config.apiUrl ?? '').replace(/\/$/, '');
}
