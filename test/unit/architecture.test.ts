/** The domain stays plain TypeScript: no AWS SDK (or any adapter) import anywhere under lambdas/domain. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DOMAIN = join(__dirname, '../../lambdas/domain');

it('imports no AWS SDK and no adapter in lambdas/domain', () => {
  const files = readdirSync(DOMAIN).filter((f) => f.endsWith('.ts'));
  expect(files.length).toBeGreaterThan(5);
  const offenders = files.flatMap((f) =>
    [...readFileSync(join(DOMAIN, f), 'utf8').matchAll(/from\s+'([^']+)'|require\('([^']+)'\)/g)]
      .map((m) => m[1] ?? m[2])
      .filter((spec) => spec.startsWith('@aws-sdk/') || spec.startsWith('@aws-lambda-powertools/') || spec.includes('/adapters/') || spec === 'aws-cdk-lib')
      .map((spec) => `${f}: ${spec}`),
  );
  expect(offenders).toEqual([]);
});
