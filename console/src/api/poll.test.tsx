import { act, render, screen } from '@testing-library/react';
import { vi } from 'vitest';
import { usePolled, type Fetched } from './poll';

function Probe({ get, active }: { get: (etag: string | undefined) => Promise<Fetched<string>>; active: boolean }) {
  const polled = usePolled('k', get, { active, intervalMs: 2000, hiddenIntervalMs: 15000 });
  return <p>{polled.data ?? 'nothing yet'}</p>;
}

function setVisibility(state: 'visible' | 'hidden') {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  document.dispatchEvent(new Event('visibilitychange'));
}

describe('usePolled', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    vi.useRealTimers();
    setVisibility('visible');
  });

  it('sends the last ETag back, keeps the data on a 304, and takes the new answer with its new ETag', async () => {
    const seen: Array<string | undefined> = [];
    const answers: Fetched<string>[] = [
      { status: 200, data: 'first', etag: '"a"' },
      { status: 304, etag: '"a"' },
      { status: 200, data: 'second', etag: '"b"' },
      { status: 304, etag: '"b"' },
    ];
    const get = async (etag: string | undefined) => {
      seen.push(etag);
      return answers.shift() ?? { status: 304, etag: '"b"' };
    };
    render(<Probe get={get} active />);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(screen.getByText('first')).toBeInTheDocument();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000);
    });
    expect(screen.getByText('first')).toBeInTheDocument();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000);
    });
    expect(screen.getByText('second')).toBeInTheDocument();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000);
    });
    expect(seen).toEqual([undefined, '"a"', '"a"', '"b"']);
  });

  it('polls every 2 s while the tab is visible, every 15 s while hidden, and at once when it is shown again', async () => {
    let calls = 0;
    const get = async () => {
      calls++;
      return { status: 200, data: `answer ${calls}`, etag: `"${calls}"` };
    };
    render(<Probe get={get} active />);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(6000);
    });
    expect(calls).toBe(4); // at 0, 2, 4, 6 s
    setVisibility('hidden');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000); // the visible-interval poll already scheduled
      await vi.advanceTimersByTimeAsync(14000);
    });
    expect(calls).toBe(5);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(1000);
    });
    expect(calls).toBe(6); // 15 s after the hidden poll
    setVisibility('visible');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(calls).toBe(7);
  });

  it('asks once and stops when nothing is active (an ended job)', async () => {
    let calls = 0;
    const get = async () => {
      calls++;
      return { status: 200, data: 'ended', etag: '"e"' };
    };
    render(<Probe get={get} active={false} />);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(60000);
    });
    expect(calls).toBe(1);
  });

  it('keeps one chain of reads when the tab is shown during a read, and never lets an older answer overwrite a newer one', async () => {
    const pending: Array<(answer: Fetched<string>) => void> = [];
    let calls = 0;
    const get = () => {
      calls++;
      return new Promise<Fetched<string>>((resolve) => pending.push(resolve));
    };
    render(<Probe get={get} active />);
    await act(async () => {
      pending.shift()!({ status: 200, data: 'first', etag: '"1"' });
      await vi.advanceTimersByTimeAsync(2000); // the second read starts, and hangs
    });
    expect(calls).toBe(2);
    const older = pending.shift()!;
    await act(async () => {
      setVisibility('visible'); // shown again: a third read at once
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(calls).toBe(3);
    await act(async () => {
      pending.shift()!({ status: 200, data: 'newer', etag: '"3"' });
      await vi.advanceTimersByTimeAsync(0);
      older({ status: 200, data: 'older', etag: '"2"' });
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(screen.getByText('newer')).toBeInTheDocument();
    // One chain: the next 2 s bring one read, not two.
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000);
    });
    expect(calls).toBe(4);
  });
});
