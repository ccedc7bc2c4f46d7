/**
 * s3rver on loopback. Its paginated listings use DES, which Node 17+ only offers with the legacy OpenSSL
 * provider: processes that host it must run with NODE_OPTIONS=--openssl-legacy-provider (local mode and jest do).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface EmbeddedS3 {
  endpoint: string;
  directory: string;
  stop(): Promise<void>;
}

export async function startEmbeddedS3(options: { directory?: string; buckets: string[]; port?: number }): Promise<EmbeddedS3> {
  const directory = options.directory ?? mkdtempSync(join(tmpdir(), 'stackjobs-s3-'));
  const server = new S3rver({
    port: options.port ?? 0,
    address: '127.0.0.1',
    directory,
    silent: true,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  return { endpoint: `http://127.0.0.1:${port}`, directory, stop: () => server.close() };
}
