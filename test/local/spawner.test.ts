/** Local mode's runner tasks start from a small helper process (local/spawner.ts), not by forking local mode itself. */
import { readFileSync } from 'node:fs';
import { Spawner, type SpawnedProcess } from '../../local/spawner';

const ppidOf = (pid: number) => Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const ended = (child: SpawnedProcess) =>
  new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve([child.exitCode, child.signalCode]) : child.once('exit', (c, s) => resolve([c, s])),
  );
const collect = (stream: NodeJS.ReadableStream) => {
  let text = '';
  stream.on('data', (b: Buffer | string) => (text += b.toString()));
  return () => text;
};

let spawner: Spawner;
beforeAll(async () => {
  spawner = await Spawner.start();
});
afterAll(async () => {
  await spawner.stop();
});

it('starts the child from the helper (its parent is the helper, not this process), with the given environment, and relays its output and exit code', async () => {
  const child = await spawner.spawn(
    process.execPath,
    ['-e', "process.stdout.write('out:' + process.env.PROBE); process.stderr.write('err line'); setTimeout(() => process.exit(3), 200)"],
    { env: { PATH: process.env.PATH ?? '', PROBE: 'p-42' } },
  );
  expect(child.pid).toEqual(expect.any(Number));
  expect(ppidOf(child.pid!)).toBe(spawner.helperPid);
  expect(spawner.helperPid).not.toBe(process.pid);
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  expect(await ended(child)).toEqual([3, null]);
  expect(out()).toBe('out:p-42');
  expect(err()).toBe('err line');
});

it('signals the child directly and reports the signal it ended with', async () => {
  const child = await spawner.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env: { PATH: process.env.PATH ?? '' } });
  expect(child.kill('SIGTERM')).toBe(true);
  expect(await ended(child)).toEqual([null, 'SIGTERM']);
  expect(child.kill('SIGKILL')).toBe(false);
});

it('rejects, naming the file, when the program cannot start', async () => {
  await expect(spawner.spawn('/nonexistent/runner-binary', [], { env: {} })).rejects.toThrow(/ENOENT|did not start/);
});

it("survives a terminal's Ctrl-C to the process group (local mode decides when it goes) and exits when local mode disconnects", async () => {
  const own = await Spawner.start();
  const pid = own.helperPid!;
  process.kill(pid, 'SIGINT');
  await new Promise((r) => setTimeout(r, 200));
  const child = await own.spawn(process.execPath, ['-e', ''], { env: { PATH: process.env.PATH ?? '' } });
  expect(await ended(child)).toEqual([0, null]);
  await own.stop();
  expect(() => process.kill(pid, 0)).toThrow();
});
