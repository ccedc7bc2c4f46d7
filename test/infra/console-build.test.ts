/**
 * infra/console-build.ts: what `npm run local` and the CDK app call to get the console's build. A build is reused while
 * the sources are unchanged, made again when any of them changes (the old one removed), and a failing build says why.
 * Driven on a small Vite project of its own, inside the repository so Vite and the lockfile resolve as for console/.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { consoleSourceHash, ensureConsoleBuilt } from '../../infra/console-build';
import { REPO_ROOT } from '../../local/local-mode';

let project: string;

beforeAll(() => {
  mkdirSync(join(REPO_ROOT, '.stackjobs'), { recursive: true });
  project = mkdtempSync(join(REPO_ROOT, '.stackjobs', 'console-build-'));
  mkdirSync(join(project, 'src'));
  writeFileSync(join(project, 'package.json'), '{"type":"module","private":true}');
  writeFileSync(join(project, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="/src/main.ts"></script>');
  writeFileSync(join(project, 'vite.config.ts'), "export default { logLevel: 'warn' };");
  writeFileSync(join(project, 'src', 'main.ts'), "document.getElementById('root')!.textContent = 'first';");
});

afterAll(() => rmSync(project, { recursive: true, force: true }));

const builds = () => readdirSync(join(project, 'dist')).filter((d) => !d.startsWith('.'));
const script = (dir: string) =>
  readdirSync(join(dir, 'assets'))
    .map((f) => readFileSync(join(dir, 'assets', f), 'utf8'))
    .join('\n');

describe('ensureConsoleBuilt', () => {
  it('builds when there is no build, reuses it while the sources are unchanged, and rebuilds when one changes', () => {
    const lines: string[] = [];
    const first = ensureConsoleBuilt((l) => lines.push(l), project);
    expect(first.built).toBe(true);
    expect(lines).toEqual(['building the web console (console/ changed or was never built)']);
    expect(script(first.dir)).toContain('first');

    const again = ensureConsoleBuilt(() => undefined, project);
    expect(again).toEqual({ dir: first.dir, built: false });

    writeFileSync(join(project, 'src', 'main.ts'), "document.getElementById('root')!.textContent = 'second';");
    const stale = ensureConsoleBuilt(() => undefined, project);
    expect(stale.built).toBe(true);
    expect(stale.dir).not.toBe(first.dir);
    expect(script(stale.dir)).toContain('second');
    // The stale build is gone: one build per source state.
    expect(builds()).toEqual([stale.dir.split('/').pop()]);
    expect(existsSync(first.dir)).toBe(false);
  }, 120000);

  it('makes the production build whoever asks: under jest (NODE_ENV=test) too, so a deploy never reuses a development build', () => {
    expect(process.env.NODE_ENV).toBe('test');
    writeFileSync(join(project, 'src', 'main.ts'), "document.getElementById('root')!.textContent = import.meta.env.MODE + ':' + process.env.NODE_ENV;");
    const built = ensureConsoleBuilt(() => undefined, project);
    expect(built.built).toBe(true);
    expect(script(built.dir)).toContain('textContent=`production:production`');
  }, 120000);

  it('ignores test files: a changed test does not rebuild', () => {
    const before = consoleSourceHash(project);
    writeFileSync(join(project, 'src', 'main.test.ts'), 'it("x", () => undefined);');
    expect(consoleSourceHash(project)).toBe(before);
  });

  it('fails with what Vite said, and leaves no half-made build behind', () => {
    writeFileSync(join(project, 'src', 'main.ts'), "import './missing-module';");
    expect(() => ensureConsoleBuilt(() => undefined, project)).toThrow(/console build failed[\s\S]*missing-module/);
    expect(builds()).toHaveLength(1);
    expect(readdirSync(join(project, 'dist')).filter((d) => d.startsWith('.tmp-'))).toEqual([]);
  }, 120000);
});
