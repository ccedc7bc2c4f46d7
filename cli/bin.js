#!/usr/bin/env node
// The `stackjobs` command: runs the TypeScript CLI through tsx (a dependency), so no build step is needed.
require('tsx/cjs');
const { exitQuietlyOnClosedPipe, runCli } = require('./stackjobs.ts');
// `stackjobs … | head` closes the pipe early: stop quietly instead of printing EPIPE's stack trace.
exitQuietlyOnClosedPipe(process.stdout, process.stderr);
runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
  process.exitCode = code;
});
