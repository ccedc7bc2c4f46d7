/**
 * The AWS SDK layer: the lockfile's AWS SDK packages that the Lambda handlers import, copied with their dependencies
 * from node_modules into `nodejs/node_modules` (a Lambda layer's Node.js path, searched before the SDK the runtime
 * ships). Every function bundles its own code and leaves `@aws-sdk/*` and `@smithy/*` to this layer, so the versions
 * Lambda runs are the ones package-lock.json pins and the tests ran, while each handler's bundle stays small.
 * The layer's asset hash is taken from what this writes (CDK's OUTPUT hash), so any change of content is a new layer.
 */
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

/** The SDK packages the handlers import (statically or on first use, lambdas/adapters/aws/sdk.ts). A test holds this list to the bundles' imports. */
export const LAYER_SDK_PACKAGES = [
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/lib-dynamodb',
  '@aws-sdk/client-ecs',
  '@aws-sdk/client-eventbridge',
  '@aws-sdk/client-scheduler',
  '@aws-sdk/client-s3',
  '@aws-sdk/lib-storage',
  '@aws-sdk/s3-request-presigner',
  '@aws-sdk/client-secrets-manager',
  '@aws-sdk/client-sfn',
  '@aws-sdk/client-sts',
  // Not the SDK: the CEL evaluator of plan policies (lambdas/domain/policy-cel.ts, loaded on first use) and what it
  // needs, about 270 KB minified, which would take the API's bundle past its 500 KB bound.
  '@bufbuild/cel',
  // Not the SDK either: the API's YAML request bodies (lambdas/http/router.ts), 114 KB minified, for the same reason.
  'yaml',
] as const;

/** Module specifiers a function leaves to the layer instead of bundling. */
export const LAYER_EXTERNAL_MODULES = ['@aws-sdk/*', '@smithy/*', '@bufbuild/*', 'yaml'] as const;

/** What the Lambda runtime itself provides (`stackjobs:awsSdk=runtime`): the SDK only, so the rest is bundled. */
export const RUNTIME_EXTERNAL_MODULES = ['@aws-sdk/*', '@smithy/*'] as const;

/**
 * Never loaded by a CommonJS bundle: TypeScript declarations, source maps, and the ES-module builds (`dist-es`, and the
 * @bufbuild packages' `dist/esm`, which no package's `main` or `require`/`node` export points at; the layer test loads
 * every package and handler from it); nor @bufbuild/cel-spec's conformance test data.
 */
const SKIPPED = /(^|[\\/])(dist-types|dist-es)([\\/]|$)|^dist[\\/](esm|cjs[\\/]testdata)([\\/]|$)|\.map$|\.d\.ts$/;

export interface LayerPackage {
  readonly name: string;
  readonly version: string;
  /** The package's directory relative to the project's node_modules, e.g. `@aws-sdk/core` or `a/node_modules/b`. */
  readonly path: string;
}

/** Node's resolution of `name` from `fromDir`: the nearest node_modules/name above it. */
function resolvePackageDir(name: string, fromDir: string, root: string): string {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir)
      throw new Error(`AWS SDK layer: ${name} (needed from ${relative(root, fromDir) || '.'}) is not installed; run npm ci`);
  }
}

/** The packages the layer holds: LAYER_SDK_PACKAGES and everything they depend on, as npm installed them. */
export function layerPackages(root: string): LayerPackage[] {
  const found = new Map<string, LayerPackage>();
  const visit = (name: string, fromDir: string, optional: boolean) => {
    let dir: string;
    try {
      dir = resolvePackageDir(name, fromDir, root);
    } catch (e) {
      if (optional) return;
      throw e;
    }
    const path = relative(join(root, 'node_modules'), dir).split(sep).join('/');
    if (found.has(path)) return;
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      version: string;
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    found.set(path, { name, version: pkg.version, path });
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir, false);
    for (const dep of Object.keys({ ...pkg.optionalDependencies, ...pkg.peerDependencies })) visit(dep, dir, true);
  };
  for (const name of LAYER_SDK_PACKAGES) visit(name, root, false);
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Writes the layer's content (`nodejs/node_modules/...`) into `outDir`. */
export function writeLayer(root: string, outDir: string, packages: readonly LayerPackage[] = layerPackages(root)): void {
  const modules = join(outDir, 'nodejs', 'node_modules');
  for (const p of packages) {
    const from = join(root, 'node_modules', p.path);
    const to = join(modules, p.path);
    mkdirSync(to, { recursive: true });
    // Nested node_modules are packages of their own, copied when the closure reaches them.
    cpSync(from, to, {
      recursive: true,
      filter: (src) => src === from || (!SKIPPED.test(relative(from, src)) && !relative(from, src).split(sep).includes('node_modules')),
    });
  }
}
