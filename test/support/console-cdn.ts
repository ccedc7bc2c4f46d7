/**
 * The console on an origin of its own, as CloudFront serves it on AWS: the same files and security headers as local
 * mode serves (local/console-site.ts), with the `config.json` and CSP `connect-src` of a deployment (the API on another
 * origin, sign-in through an OIDC issuer). `site` is read at each request, so the API's URL can be filled in later.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { consoleFile, type ConsoleSite } from '../../local/console-site';

export interface ConsoleCdn {
  url: string;
  stop(): Promise<void>;
}

export async function startConsoleCdn(dir: string, site: () => ConsoleSite): Promise<ConsoleCdn> {
  const server: Server = createServer((req, res) => {
    void consoleFile(dir, new URL(req.url ?? '/', 'http://x').pathname, site()).then((r) => {
      res.writeHead(r.statusCode ?? 200, (r.headers ?? {}) as Record<string, string>);
      res.end(r.isBase64Encoded && r.body ? Buffer.from(r.body, 'base64') : (r.body ?? ''));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
