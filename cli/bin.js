#!/usr/bin/env node
// The `stackjobs` command: runs the TypeScript CLI through tsx (a dependency), so no build step is needed.
require('tsx/cjs');
const { runCli } = require('./stackjobs.ts');
runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
  process.exitCode = code;
});
