/**
 * What the console's upload carries: the build ensureConsoleBuilt() returns whenever the app is bundled (cdk synth,
 * cdk deploy), a given folder in tests, and a placeholder page in an offline synth (local mode, the infra tests), which
 * never waits for Vite. ensureConsoleBuilt is replaced by a stand-in build here; the real one is console-build.ts's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { ensureConsoleBuilt } from '../../infra/console-build';
import { WebConsole } from '../../infra/constructs/console';

jest.mock('../../infra/console-build', () => ({ ensureConsoleBuilt: jest.fn() }));
const build = jest.mocked(ensureConsoleBuilt);

/** A folder shaped like Vite's output, its index.html marked with `mark`. */
function fakeBuild(mark: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-dist-'));
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), `<!doctype html><title>${mark}</title><script type="module" src="/assets/index-3f2a.js"></script>`);
  fs.writeFileSync(path.join(dir, 'assets', 'index-3f2a.js'), 'console.log(1)');
  return dir;
}

/** Synthesizes a console alone and returns the files its assets upload stages, by relative path. */
function uploaded(context: Record<string, unknown>, assetDir?: string): Record<string, string> {
  const app = new App({ context });
  const stack = new Stack(app, 'ConsoleOnly');
  new WebConsole(stack, 'Console', {
    apiEndpoint: 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com',
    issuer: 'https://login.acme.io/',
    clientId: 'console-client',
    logsBucket: new s3.Bucket(stack, 'Logs', { objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED }),
    logRetention: logs.RetentionDays.ONE_WEEK,
    assetDir,
  });
  const assembly = app.synth();
  const upload = Object.values(
    assembly.getStackByName('ConsoleOnly').template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
  ).find((r) => r.Type === 'Custom::CDKBucketDeployment' && (r.Properties.Include as string[] | undefined)?.includes('assets/*'))!;
  const dir = path.join(assembly.directory, `asset.${(upload.Properties.SourceObjectKeys as string[])[0].replace(/\.zip$/, '')}`);
  return Object.fromEntries(
    fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => {
        const file = path.join(e.parentPath, e.name);
        return [path.relative(dir, file), fs.readFileSync(file, 'utf8')];
      }),
  );
}

beforeEach(() => build.mockReset());

it('uploads the build ensureConsoleBuilt() returns when the app is bundled, as cdk synth and cdk deploy do', () => {
  build.mockReturnValue({ dir: fakeBuild('built by vite'), built: true });
  const files = uploaded({});
  expect(Object.keys(files).sort()).toEqual(['assets/index-3f2a.js', 'index.html']);
  expect(files['index.html']).toContain('built by vite');
});

it('fails the synth with the build’s own message when the console does not build', () => {
  build.mockImplementation(() => {
    throw new Error('console build failed (exit 1):\nsrc/App.tsx: Unexpected token');
  });
  expect(() => uploaded({})).toThrow(/console build failed[\s\S]*Unexpected token/);
});

it('uploads a given folder instead, without building', () => {
  const files = uploaded({}, fakeBuild('given'));
  expect(build).not.toHaveBeenCalled();
  expect(files['index.html']).toContain('given');
});

it('uploads a placeholder and builds nothing in an offline synth (bundling skipped: local mode, the infra tests)', () => {
  const files = uploaded({ 'aws:cdk:bundling-stacks': [] });
  expect(build).not.toHaveBeenCalled();
  expect(Object.keys(files)).toEqual(['index.html']);
  expect(files['index.html']).toMatch(/without bundling/);
});
