/** The process supervisor: output is never dropped because the sink is slow, and lingering writers are stopped. */
import { supervise } from '../../runner-image/src/supervisor';

const base = { cwd: process.cwd(), env: { PATH: process.env.PATH }, timeoutMs: 30_000 };

describe('supervise', () => {
  it('reads all of the output even when the sink is slower than the grace period', async () => {
    let out = '';
    const started = Date.now();
    const result = await supervise({
      ...base,
      bin: 'sh',
      args: ['-c', 'for i in $(seq 1 200); do echo "line $i"; done'],
      graceMs: 100,
      // Each chunk takes 300 ms to "upload": the tool has long exited when the sink catches up.
      onStdout: async (c) => {
        await new Promise((r) => setTimeout(r, 300));
        out += c.toString();
      },
      onStderr: async () => undefined,
    });
    expect(result.exitCode).toBe(0);
    expect(Date.now() - started).toBeGreaterThan(300);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(200);
    expect(lines[199]).toBe('line 200');
  });

  it('kills a grandchild that keeps the pipes open after the tool exited, keeping what it wrote', async () => {
    let out = '';
    const started = Date.now();
    const result = await supervise({
      ...base,
      bin: 'sh',
      // The leader exits at once; its background child holds stdout open for 30 s.
      args: ['-c', 'echo before; (sleep 30; echo never) & exit 0'],
      graceMs: 300,
      onStdout: async (c) => void (out += c.toString()),
      onStderr: async () => undefined,
    });
    expect(result.exitCode).toBe(0);
    expect(out).toBe('before\n');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('surfaces a sink failure after the tool is done', async () => {
    await expect(
      supervise({
        ...base,
        bin: 'sh',
        args: ['-c', 'echo x'],
        graceMs: 100,
        onStdout: async () => Promise.reject(new Error('upload failed')),
        onStderr: async () => undefined,
      }),
    ).rejects.toThrow('upload failed');
  });
});
