/**
 * AWS Signature Version 4, checked the way AWS checks it: the request is signed again with the secret of the access
 * key it names (@smithy/signature-v4, the SDK's own signer) and the signatures compared. Local mode's stand-ins put
 * this in front of every loopback endpoint, so only a caller holding local mode's per-run credentials (the Lambdas'
 * and the runner's) is served — not module code that finds the port.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

class Sha256 {
  private readonly h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret ? createHmac('sha256', typeof secret === 'string' ? secret : Buffer.from(secret as ArrayBuffer)) : createHash('sha256');
  }
  update(data: string | Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

/** The access key id a request is signed with (undefined when it is not SigV4-signed in a header). */
export const signingKeyOf = (headers: IncomingHttpHeaders): string | undefined => AUTH.exec(String(headers.authorization ?? ''))?.[1];

/** True when `headers.authorization` is a valid SigV4 signature of this request by a key `secretFor` knows. */
export async function verifySigV4(
  req: { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer },
  secretFor: (accessKeyId: string) => string | undefined,
): Promise<boolean> {
  const m = AUTH.exec(String(req.headers.authorization ?? ''));
  if (!m) return false;
  const [, keyId, region, service, signedHeaders, signature] = m;
  const secret = secretFor(keyId);
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!secret || !/^\d{8}T\d{6}Z$/.test(amzDate)) return false;
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const url = new URL(req.url, `http://${String(req.headers.host ?? 'localhost')}`);
  const headers: Record<string, string> = {};
  for (const h of signedHeaders.split(';')) headers[h] = String(req.headers[h] ?? '');
  const query: Record<string, string> = {};
  url.searchParams.forEach((v, k) => (query[k] = v));
  const token = req.headers['x-amz-security-token'];
  const signer = new SignatureV4({
    credentials: { accessKeyId: keyId, secretAccessKey: secret, ...(token ? { sessionToken: String(token) } : {}) },
    region,
    service,
    sha256: Sha256,
    uriEscapePath: service !== 's3',
  });
  const signed = (await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port) || undefined,
      path: url.pathname,
      query,
      headers,
      body: req.body.length > 0 ? req.body : undefined,
    } as never,
    { signingDate },
  )) as unknown as { headers: Record<string, string> };
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1];
  return expected !== undefined && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}
