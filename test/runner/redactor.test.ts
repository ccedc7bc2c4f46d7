/** Streaming redaction: secrets and their encoded forms never survive, however the stream is cut. */
import { base64Forms, redactJsonText, redactJsonValue, REDACTED, SecretRegistry, StreamRedactor } from '../../runner-image/src/redactor';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY';

function through(registry: SecretRegistry, input: Buffer, cut: (i: number) => number): string {
  const r = new StreamRedactor(registry);
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; ) {
    const n = Math.max(1, cut(i));
    out.push(r.write(input.subarray(i, i + n)));
    i += n;
  }
  out.push(r.end());
  return Buffer.concat(out).toString('utf8');
}

describe('StreamRedactor', () => {
  const registry = new SecretRegistry();
  registry.add(SECRET, 'short-token-1234');
  const text = `a ${SECRET} b ${Buffer.from(SECRET).toString('base64')} c short-token-1234 d "${SECRET}" end`;

  it.each([1, 2, 3, 5, 7, 13, 1000])('redacts every form when the stream arrives in %i-byte pieces', (size) => {
    const out = through(registry, Buffer.from(text), () => size);
    expect(out).toBe(`a ${REDACTED} b ${REDACTED} c ${REDACTED} d "${REDACTED}" end`);
  });

  it('redacts across irregular cuts (every split position of the secret)', () => {
    const input = Buffer.from(`xx${SECRET}yy`);
    for (let split = 1; split < input.length; split++) {
      expect(through(registry, input, (i) => (i === 0 ? split : input.length))).toBe(`xx${REDACTED}yy`);
    }
  });

  it('finds a secret base64-encoded inside a longer base64 string at any byte alignment', () => {
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      const encoded = Buffer.from(`${prefix}${SECRET}!tail`).toString('base64');
      const out = through(registry, Buffer.from(`blob=${encoded}\n`), () => 4);
      expect(out).toContain(REDACTED);
      for (const form of base64Forms(SECRET)) expect(out).not.toContain(form);
    }
  });

  it('leaves text without secrets byte-identical, including split multi-byte characters', () => {
    const plain = Buffer.from('héllo wörld — ✓ 日本語\n'.repeat(20));
    expect(through(registry, plain, () => 3)).toBe(plain.toString('utf8'));
  });

  it('holds back at most (longest pattern - 1) bytes, whatever the input size', () => {
    const r = new StreamRedactor(registry);
    const longest = registry.patterns()[0].length;
    let emitted = 0;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 64; i++) emitted += r.write(chunk).length;
    expect(64 * chunk.length - emitted).toBeLessThan(longest);
  });

  it('ignores values too short to be credentials, which would blank ordinary text', () => {
    const reg = new SecretRegistry();
    reg.add('abc');
    expect(reg.redact('abc abc')).toBe('abc abc');
  });
});

describe('redactJsonText', () => {
  it('replaces known secrets in keys, strings and scalars, keeping valid JSON of the same shape', () => {
    const registry = new SecretRegistry();
    registry.add('s3cr3t-value', 'quote"and\\backslash', '987654321');
    const value = { a: 'x s3cr3t-value y', 's3cr3t-value': 1, b: ['quote"and\\backslash'], n: 987654321, keep: 42, nested: { t: true, nil: null } };
    const text = redactJsonText(value, registry);
    expect(JSON.parse(text)).toEqual({ a: 'x *** y', '***': 1, b: ['***'], n: '***', keep: 42, nested: { t: true, nil: null } });
    expect(redactJsonValue({ n: 987654321, s: '987654321' }, registry, { stringsOnly: true })).toEqual({ n: 987654321, s: '***' });
  });

  it('still removes a secret that spans JSON syntax, at the cost of validity', () => {
    const registry = new SecretRegistry();
    registry.add('a","b');
    expect(redactJsonText(['a', 'b'], registry)).toBe('["***"]');
  });
});
