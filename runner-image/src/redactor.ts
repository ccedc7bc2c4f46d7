/**
 * Streaming secret redaction: every known secret value, and the forms it is likely to take in tool output
 * (secretForms: JSON- and URL-encoded, HCL-quoted, case-changed, hex, base64 at any alignment, PEM lines), is replaced
 * by `***` before a byte leaves the process.
 * Between writes it holds back only a tail that could be the start of a secret (at most longest pattern - 1 bytes),
 * so a secret split across two writes (or two log chunks) is still caught, memory stays bounded, and ordinary
 * output is never held.
 */

export const REDACTED = '***';

/** Raw values shorter than this are not redacted: they would blank out ordinary text and are not credentials. */
export const MIN_SECRET_LENGTH = 4;
/** Derived (base64) fragments shorter than this are dropped: short fragments match random base64 too often. */
const MIN_DERIVED_LENGTH = 8;

/**
 * The base64 text of `secret` as it appears inside a longer base64 string, for each of the three byte alignments.
 * Characters that also encode neighbouring (unknown) bytes are cut off at both ends.
 */
export function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms: string[] = [Buffer.from(secret).toString('base64')];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes])
      .toString('base64')
      .replace(/=+$/, '');
    // Leading: the chars for the pad bytes, plus one that mixes pad and secret bits when offset > 0.
    const lead = offset === 0 ? 0 : offset + 1;
    // Trailing: when the total is not a multiple of 3 the last char mixes the secret with the next (unknown) byte.
    const trail = (offset + bytes.length) % 3 === 0 ? 0 : 1;
    const inner = encoded.slice(lead, encoded.length - trail);
    forms.push(inner, inner.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms.filter((f) => f.length >= MIN_DERIVED_LENGTH);
}

/** Go's url.QueryEscape (Terraform's urlencode()): unreserved bytes kept, space as "+", the rest %XX upper-case. */
export function queryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Go's encoding/json string escaping (Terraform's jsonencode()): JSON's, plus <, > and & as \u003c, \u003e, \u0026. */
function goJsonEscape(s: string): string {
  return JSON.stringify(s)
    .slice(1, -1)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * The inside of Terraform's HCL-quoted string (toHCLQuotedString, used by addrs.StringKey.String for a for_each key in
 * a resource address): `${` and `%{` doubled to `$${` and `%%{`, quote, backslash, \n, \r and \t escaped, and other
 * characters Go's unicode.IsPrint rejects as \uXXXX or \UXXXXXXXX.
 */
export function hclQuotedEscape(s: string): string {
  let out = '';
  const chars = [...s];
  chars.forEach((c, i) => {
    if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (c === '"') out += '\\"';
    else if (c === '\\') out += '\\\\';
    else if (c === '$' || c === '%') out += chars[i + 1] === '{' ? c + c : c;
    else if (c === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(c)) out += c;
    else {
      const code = c.codePointAt(0) ?? 0;
      out += code < 0x10000 ? `\\u${code.toString(16).padStart(4, '0')}` : `\\U${code.toString(16).padStart(8, '0')}`;
    }
  });
  return out;
}

/** Secrets up to this many bytes are also redacted in hex. */
const MAX_HEX_SECRET_BYTES = 40;

/** The body lines of a PEM block long enough to identify it: a tool may print one line of a key on its own. */
const MIN_PEM_LINE = 16;
function pemLines(s: string): string[] {
  if (!s.includes('-----BEGIN')) return [];
  return s.split(/\r?\n|\\n/).filter((l) => l.length >= MIN_PEM_LINE && !l.startsWith('-----') && !/^[A-Za-z-]+:/.test(l));
}

/**
 * The forms a secret takes on its way through a module: as it is; JSON-escaped (JavaScript's and Go's jsonencode);
 * HCL-quoted as a for_each key in a resource address (and that JSON-escaped); URL-encoded (encodeURIComponent, Go's
 * QueryEscape / Terraform's urlencode, lower-case hex); upper- and lower-cased; hex; base64 at every alignment (and
 * base64url); a PEM with other line endings, and each of its body lines alone.
 */
export function secretForms(s: string): string[] {
  const forms = new Set<string>([s, JSON.stringify(s).slice(1, -1), goJsonEscape(s), encodeURIComponent(s), queryEscape(s), s.toUpperCase(), s.toLowerCase()]);
  const urlLower = encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
  forms.add(urlLower);
  // Hex doubles the length, and the longest pattern is what every stream holds back between writes (a tool's last
  // line stays unlogged until it prints again): only for secrets short enough that hex is no longer than base64 of a
  // task token (a password, an access key's secret), which are also the ones a module would hex-encode.
  if (Buffer.byteLength(s, 'utf8') <= MAX_HEX_SECRET_BYTES) {
    const hex = Buffer.from(s, 'utf8').toString('hex');
    forms.add(hex);
    forms.add(hex.toUpperCase());
  }
  if (s.includes('\n')) {
    forms.add(s.replace(/\r?\n/g, '\r\n'));
    forms.add(s.replace(/\r?\n/g, '\r'));
    forms.add(s.replace(/\r?\n/g, ' '));
  }
  // A for_each key is printed HCL-quoted in resource addresses (logs, plan.json, summaries); inside a JSON document that
  // address is JSON-escaped once more. Only when quoting changes the value: otherwise the forms above cover it.
  const hcl = hclQuotedEscape(s);
  if (hcl !== s) for (const f of [hcl, JSON.stringify(hcl).slice(1, -1), goJsonEscape(hcl)]) forms.add(f);
  for (const l of pemLines(s)) forms.add(l);
  for (const f of base64Forms(s)) forms.add(f);
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH);
}

/** Every pattern to redact for a set of secret values. */
export function redactionPatterns(secrets: Iterable<string>): string[] {
  const patterns = new Set<string>();
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    for (const f of secretForms(s)) patterns.add(f);
  }
  return [...patterns];
}

/** A mutable set of secrets: the runner learns them as it reads them (credentials, git token, backend secret). */
export class SecretRegistry {
  private readonly values = new Set<string>();
  private cached: Buffer[] | undefined;

  add(...values: Array<string | undefined>): void {
    for (const v of values)
      if (v && v.length >= MIN_SECRET_LENGTH && !this.values.has(v)) {
        this.values.add(v);
        this.cached = undefined;
      }
  }

  /** Longest first, so a secret that contains another is replaced whole. */
  patterns(): Buffer[] {
    this.cached ??= redactionPatterns(this.values)
      .sort((a, b) => b.length - a.length)
      .map((p) => Buffer.from(p, 'utf8'));
    return this.cached;
  }

  /** Redacts a complete string (error messages, the failure tail). */
  redact(text: string): string {
    const r = new StreamRedactor(this);
    return Buffer.concat([r.write(Buffer.from(text, 'utf8')), r.end()]).toString('utf8');
  }
}

/**
 * Redacts one byte stream, with the same result however the stream is cut: what redacting the whole text at once
 * gives (every match masked, overlapping or adjoining matches as one `***`). Not thread-safe; one per stream.
 */
export class StreamRedactor {
  private carry: Buffer = Buffer.alloc(0);
  /**
   * Where a `***` already emitted ends, as an offset into `carry`, while the held-back bytes may still extend it: a
   * match starting at or before this offset joins that span (as in one pass over the whole text) and adds no second
   * `***`. Without it, secrets `abcd` and `cdXYZWVU` written as `abcdXY` then `ZWVU` gave `***XYZWVU`.
   */
  private openMaskEnd: number | undefined;

  constructor(private readonly secrets: SecretRegistry) {}

  /** Returns the redacted bytes that are safe to emit now; may hold back a tail. */
  write(chunk: Buffer): Buffer {
    const buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const patterns = this.secrets.patterns();
    if (patterns.length === 0) {
      this.carry = Buffer.alloc(0);
      this.openMaskEnd = undefined;
      return buf;
    }
    return this.emit(buf, patterns, this.partialMatchStart(buf, patterns));
  }

  /**
   * Where the held-back tail starts: the first position from which the rest of `buf` is the beginning of some
   * pattern (a secret that may continue in the next write). Only such bytes are held, so a tool's last line is logged
   * at once unless it really ends like the start of a secret; buf.length when nothing needs holding.
   */
  private partialMatchStart(buf: Buffer, patterns: Buffer[]): number {
    const longest = patterns[0].length;
    for (let pos = Math.max(0, buf.length - (longest - 1)); pos < buf.length; pos++) {
      const rest = buf.length - pos;
      for (const p of patterns) {
        if (p.length > rest && p[0] === buf[pos] && p.compare(buf, pos, buf.length, 0, rest) === 0) return pos;
      }
    }
    return buf.length;
  }

  /** Emits whatever was held back, redacted. */
  end(): Buffer {
    const buf = this.carry;
    const out = buf.length === 0 ? buf : this.emit(buf, this.secrets.patterns(), buf.length);
    this.carry = Buffer.alloc(0);
    this.openMaskEnd = undefined;
    return out;
  }

  /**
   * Emits `buf` up to `limit` redacted and keeps the rest as the carry. Every match that starts before `limit` lies
   * wholly in `buf` (partialMatchStart), so each is seen exactly once; a masked span that reaches `limit` stays open,
   * since a match starting in the held-back bytes (or at their start, adjoining) would extend it.
   */
  private emit(buf: Buffer, patterns: Buffer[], limit: number): Buffer {
    const spans = this.maskedSpans(buf, patterns, limit);
    this.carry = Buffer.from(buf.subarray(limit));
    if (spans.length === 0) {
      this.openMaskEnd = undefined;
      return buf.subarray(0, limit);
    }
    const parts: Buffer[] = [];
    const mask = Buffer.from(REDACTED);
    let pos = 0;
    for (const span of spans) {
      parts.push(buf.subarray(pos, span.start));
      if (!span.emitted) parts.push(mask);
      pos = span.end;
    }
    const last = spans[spans.length - 1];
    if (last.end >= limit) this.openMaskEnd = last.end - limit;
    else {
      this.openMaskEnd = undefined;
      parts.push(buf.subarray(pos, limit));
    }
    return Buffer.concat(parts);
  }

  /** The matches starting before `limit`, and the span still open from the last write, merged where they overlap or adjoin. */
  private maskedSpans(buf: Buffer, patterns: Buffer[], limit: number): Array<{ start: number; end: number; emitted: boolean }> {
    const found: Array<{ start: number; end: number; emitted: boolean }> =
      this.openMaskEnd === undefined ? [] : [{ start: 0, end: this.openMaskEnd, emitted: true }];
    for (const p of patterns) {
      let at = buf.indexOf(p);
      while (at >= 0 && at < limit) {
        found.push({ start: at, end: at + p.length, emitted: false });
        at = buf.indexOf(p, at + 1);
      }
    }
    // The open span sorts first among spans starting at 0: its `***` is out already, and the merged span keeps that.
    found.sort((a, b) => a.start - b.start || Number(b.emitted) - Number(a.emitted));
    const merged: typeof found = [];
    for (const f of found) {
      const last = merged[merged.length - 1];
      if (last && f.start <= last.end) last.end = Math.max(last.end, f.end);
      else merged.push({ ...f });
    }
    return merged;
  }
}

/**
 * Redacts a JSON value leaf by leaf (keys, strings, and the text of numbers and booleans): a leaf that holds a
 * known secret is replaced (a string in place; a number or boolean becomes "***"), so the result keeps its shape.
 * `stringsOnly` leaves numbers alone (a typed document such as the plan summary, whose counts are not secrets).
 */
export function redactJsonValue(value: unknown, registry: SecretRegistry, options: { stringsOnly?: boolean } = {}): unknown {
  if (typeof value === 'string') return registry.redact(value);
  if ((typeof value === 'number' || typeof value === 'boolean') && !options.stringsOnly)
    return registry.redact(String(value)) === String(value) ? value : REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactJsonValue(v, registry, options));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [registry.redact(k), redactJsonValue(v, registry, options)]));
  }
  return value;
}

/**
 * The JSON text of `value` with every known secret replaced by `***`: leaf by leaf (so the text stays valid JSON),
 * then the whole text once more, which only matters for a secret spanning JSON syntax (security over validity).
 */
export function redactJsonText(value: unknown, registry: SecretRegistry): string {
  return registry.redact(JSON.stringify(redactJsonValue(value, registry)));
}
