/**
 * A minimal OpenID Connect provider on loopback, for the console's sign-in on AWS (authorization code + PKCE): the
 * discovery document, an authorization endpoint that signs the configured user in at once and redirects back with a
 * code, a token endpoint that refuses a code whose PKCE verifier does not hash to the challenge (S256) or whose
 * redirect URI or client differs, and the JWKS of the RS256 key the ID token is signed with. CORS is open, as
 * Cognito's and other providers' token endpoints are for browser clients.
 *
 * The ID token is made before the provider starts (`idToken`), so local mode, whose API accepts tokens it is given in
 * its config rather than validating JWTs, can be told it.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OidcProvider {
  issuer: string;
  clientId: string;
  idToken: string;
  /** Every code exchanged, and whether its PKCE verifier matched its challenge. */
  exchanges: Array<{ clientId: string; redirectUri: string; challengeMethod: string; verified: boolean }>;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function jwt(key: KeyObject, kid: string, claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${sign('RSA-SHA256', Buffer.from(`${head}.${body}`), key).toString('base64url')}`;
}

export async function startOidcProvider(o: { clientId: string; subject: string }): Promise<OidcProvider> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const now = Math.floor(Date.now() / 1000);
  const idToken = jwt(privateKey, kid, { iss: issuer, aud: o.clientId, sub: o.subject, iat: now, exp: now + 86400, email: o.subject });
  const codes = new Map<string, { clientId: string; redirectUri: string; challenge: string; method: string }>();
  const exchanges: OidcProvider['exchanges'] = [];

  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*', 'access-control-allow-methods': 'GET, POST' };
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { ...cors, 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    if (url.pathname === '/.well-known/openid-configuration') {
      json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
      });
      return;
    }
    if (url.pathname === '/jwks') {
      json(200, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }] });
      return;
    }
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      if (q.get('client_id') !== o.clientId || q.get('response_type') !== 'code' || !q.get('code_challenge') || !q.get('redirect_uri')) {
        json(400, { error: 'invalid_request' });
        return;
      }
      const code = randomBytes(16).toString('hex');
      codes.set(code, {
        clientId: q.get('client_id')!,
        redirectUri: q.get('redirect_uri')!,
        challenge: q.get('code_challenge')!,
        method: q.get('code_challenge_method') ?? 'plain',
      });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      if (q.get('state')) back.searchParams.set('state', q.get('state')!);
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const grant = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        const verified = grant !== undefined && grant.method === 'S256' && b64url(createHash('sha256').update(verifier).digest()) === grant.challenge;
        if (grant)
          exchanges.push({ clientId: form.get('client_id') ?? '', redirectUri: form.get('redirect_uri') ?? '', challengeMethod: grant.method, verified });
        if (
          form.get('grant_type') !== 'authorization_code' ||
          !grant ||
          !verified ||
          form.get('client_id') !== grant.clientId ||
          form.get('redirect_uri') !== grant.redirectUri
        ) {
          json(400, { error: 'invalid_grant' });
          return;
        }
        json(200, { access_token: randomBytes(24).toString('hex'), id_token: idToken, token_type: 'Bearer', expires_in: 3600 });
      });
      return;
    }
    json(404, { error: 'not_found' });
  });

  return {
    issuer,
    clientId: o.clientId,
    idToken,
    exchanges,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
