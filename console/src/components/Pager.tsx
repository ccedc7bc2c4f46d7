/** Newer and Older through a listing the API pages with a cursor. */
import { useState } from 'react';

/**
 * The pager remembers the cursors of the pages before the one shown (the API only says where the next one starts):
 * give it a new `key` when the listing itself changes, so it forgets them.
 */
export function Pager({ label, cursor, next, onPage }: { label: string; cursor?: string; next?: string; onPage(cursor: string | undefined): void }) {
  const [previous, setPrevious] = useState<(string | undefined)[]>([]);
  return (
    <nav className="pager" aria-label={label}>
      <button
        type="button"
        disabled={previous.length === 0}
        onClick={() => {
          setPrevious(previous.slice(0, -1));
          onPage(previous.at(-1));
        }}
      >
        Newer
      </button>
      <button
        type="button"
        disabled={!next}
        onClick={() => {
          setPrevious([...previous, cursor]);
          onPage(next);
        }}
      >
        Older
      </button>
    </nav>
  );
}
