/**
 * `stackjobs help | head -5`: a reader that closes its end of the pipe before the CLI is done writing. The CLI stops
 * quietly (status 0) instead of dying on an unhandled `write EPIPE` with a stack trace. The reader here closes before
 * the CLI writes anything, so every write fails, which `head` only does by chance.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** Runs `node <args>` with its stdout read by nobody: the pipe's read end is closed at once. */
function withClosedStdout(args: string[]): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stderr }));
  });
}

describe.each([
  ['the bin (npx --no -- stackjobs)', [join(ROOT, 'cli', 'bin.js')]],
  ['npm run stackjobs (tsx cli/stackjobs.ts)', [TSX, join(ROOT, 'cli', 'stackjobs.ts')]],
])('%s, its output piped into a reader that stopped reading', (_name, entry) => {
  it.each(['help', '--help', 'list --help', 'completion bash'])('`stackjobs %s` exits 0 without a stack trace', async (command) => {
    const run = await withClosedStdout([...entry, ...command.split(' ')]);
    expect(run.stderr).not.toMatch(/EPIPE|Error|^\s+at /m);
    expect(run.stderr).toBe('');
    expect({ status: run.status, signal: run.signal }).toEqual({ status: 0, signal: null });
  });
});
