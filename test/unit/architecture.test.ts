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

it("cites no document outside the repository (the project's docs stand on their own)", () => {
  const ROOT = join(__dirname, '../..');
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (/\.(ts|md|mjs|js|json|yaml|tf)$|Dockerfile/.test(entry.name) && readFileSync(join(ROOT, rel), 'utf8').includes('design' + '.md'))
        offenders.push(rel);
    }
  };
  for (const dir of ['lambdas', 'runner-image', 'infra', 'local', 'cli', 'docs', 'examples', 'bench', 'test']) walk(dir);
  for (const file of ['README.md', 'package.json']) if (readFileSync(join(ROOT, file), 'utf8').includes('design' + '.md')) offenders.push(file);
  expect(offenders).toEqual([]);
});
