/**
 * Terraform/OpenTofu `-json` UI output, one JSON object a line, turned into the human-readable log people
 * read (`@message`, and a diagnostic's detail), while the machine-readable parts the runner needs
 * (the change summary) are kept. Values never reach the log this way: the `outputs` line carries output
 * values, sensitive ones included, but its `@message` is only "Outputs: N".
 */

/** Lines longer than this are passed through as they are instead of being buffered further. */
const MAX_LINE_BYTES = 256 * 1024;

export interface ChangeCounts {
  add: number;
  change: number;
  remove: number;
}

interface UiLine {
  '@level'?: string;
  '@message'?: string;
  type?: string;
  changes?: ChangeCounts & { operation?: string };
  diagnostic?: { severity?: string; summary?: string; detail?: string; range?: { filename?: string; start?: { line?: number } } };
}

export function humaniseLine(line: string): { text: string; parsed?: UiLine } {
  if (!line.startsWith('{')) return { text: line };
  let parsed: UiLine;
  try {
    parsed = JSON.parse(line) as UiLine;
  } catch {
    return { text: line };
  }
  if (typeof parsed['@message'] !== 'string') return { text: line };
  const d = parsed.diagnostic;
  if (parsed.type === 'diagnostic' && d) {
    const where = d.range?.filename ? ` (${d.range.filename}${d.range.start?.line ? ` line ${d.range.start.line}` : ''})` : '';
    const head = `${d.severity === 'warning' ? 'Warning' : 'Error'}: ${d.summary ?? parsed['@message']}${where}`;
    return { text: d.detail ? `${head}\n  ${d.detail.replace(/\n/g, '\n  ')}` : head, parsed };
  }
  return { text: parsed['@message'], parsed };
}

/** A streaming line splitter over one process output stream. */
export class JsonUiHumaniser {
  private partial: Buffer = Buffer.alloc(0);
  /** The last `change_summary` seen (apply: what was done; plan: what would be). */
  changeSummary: ChangeCounts | undefined;

  /** Inside an over-long `-json` line: its bytes are dropped up to the next newline. */
  private skipping = false;

  write(chunk: Buffer): Buffer {
    if (this.skipping) {
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) return Buffer.alloc(0);
      this.skipping = false;
      return this.write(chunk.subarray(nl + 1));
    }
    const buf = this.partial.length > 0 ? Buffer.concat([this.partial, chunk]) : chunk;
    const lastNewline = buf.lastIndexOf(0x0a);
    if (lastNewline < 0) {
      if (buf.length > MAX_LINE_BYTES) {
        this.partial = Buffer.alloc(0);
        // A -json UI line this long is never shown raw: it can carry values (an `outputs` line holds every output,
        // sensitive ones included). Plain text passes as it is.
        if (buf[0] !== 0x7b) return buf;
        this.skipping = true;
        return Buffer.from(`[stack-jobs] a machine-readable line of over ${MAX_LINE_BYTES / 1024} KiB was not logged (it may carry output values)\n`);
      }
      this.partial = Buffer.from(buf);
      return Buffer.alloc(0);
    }
    this.partial = Buffer.from(buf.subarray(lastNewline + 1));
    const complete = buf.subarray(0, lastNewline + 1);
    // Fast path for plain text (e.g. a provider's own logging): no line starts with "{", nothing to convert.
    if (complete[0] !== 0x7b && complete.indexOf('\n{') < 0) return complete;
    return this.convert(complete.toString('utf8'));
  }

  end(): Buffer {
    const rest = this.partial;
    this.partial = Buffer.alloc(0);
    return rest.length === 0 ? rest : this.convert(rest.toString('utf8'));
  }

  private convert(text: string): Buffer {
    const endsWithNewline = text.endsWith('\n');
    const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n');
    const out = lines.map((line) => {
      const { text: human, parsed } = humaniseLine(line);
      if (parsed?.type === 'change_summary' && parsed.changes) this.changeSummary = parsed.changes;
      return human;
    });
    return Buffer.from(out.join('\n') + (endsWithNewline ? '\n' : ''), 'utf8');
  }
}
