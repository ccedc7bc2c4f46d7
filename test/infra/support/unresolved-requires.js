/**
 * Every bare module a layer's JavaScript requires or imports that does not resolve from that file (run with the
 * layer on NODE_PATH and cwd outside the repository, as on Lambda). Prints a JSON list of `file -> module`.
 * Test files inside packages are skipped: they are never loaded.
 */
const fs = require('node:fs');
const path = require('node:path');
const { builtinModules, createRequire } = require('node:module');

const root = process.argv[2];
const files = (dir) =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.js') ? [path.join(dir, e.name)] : []));
const unresolved = [];
let seen = 0;
for (const file of files(root)) {
  if (/[\\/]tests?[\\/]/.test(path.relative(root, file))) continue;
  const source = fs.readFileSync(file, 'utf8');
  for (const m of source.matchAll(/\b(?:require|import)\(\s*["']([^"'./][^"']*)["']\s*\)/g)) {
    const spec = m[1];
    if (spec.startsWith('node:') || builtinModules.includes(spec) || builtinModules.includes(spec.split('/')[0])) continue;
    seen++;
    try {
      createRequire(file).resolve(spec);
    } catch {
      unresolved.push(`${path.relative(root, file).split(path.sep).join('/')} -> ${spec}`);
    }
  }
}
process.stdout.write(JSON.stringify({ seen, unresolved: [...new Set(unresolved)].sort() }));
