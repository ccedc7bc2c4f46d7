/** Streaming redaction: secrets and their encoded forms never survive, however the stream is cut. */
import {
  base64Forms,
  hclQuotedEscape,
  queryEscape,
  redactJsonText,
  redactJsonValue,
  REDACTED,
  SecretRegistry,
  StreamRedactor,
} from '../../runner-image/src/redactor';
import fc from 'fast-check';
import { JsonUiHumaniser } from '../../runner-image/src/json-ui';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY';

function through(registry: SecretRegistry, input: Buffer, cut: (i: number) => number): string {
  const r = new StreamRedactor(registry);
  const out: Buffer[] = [];
  for (let i = 0; i < input.length;) {
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

describe('overlapping secrets', () => {
  /** Redacting the whole text in one pass, written independently of StreamRedactor: every match, joined where they meet. */
  function oneShot(registry: SecretRegistry, text: string): string {
    const buf = Buffer.from(text);
    const spans: Array<[number, number]> = [];
    for (const p of registry.patterns()) for (let at = buf.indexOf(p); at >= 0; at = buf.indexOf(p, at + 1)) spans.push([at, at + p.length]);
    spans.sort((a, b) => a[0] - b[0]);
    const parts: Buffer[] = [];
    let pos = 0;
    let open: [number, number] | undefined;
    for (const [start, end] of spans) {
      if (open && start <= open[1]) open[1] = Math.max(open[1], end);
      else {
        if (open) pos = open[1];
        parts.push(buf.subarray(pos, start), Buffer.from(REDACTED));
        open = [start, end];
      }
    }
    parts.push(buf.subarray(open ? open[1] : 0));
    return Buffer.concat(parts).toString();
  }

  const registry = new SecretRegistry();
  registry.add('abcd', 'cdXYZWVU', 'VUmn0p', 'q9q9q9');

  it('gives one *** for two secrets that overlap, however the writes cut them', () => {
    const r = new StreamRedactor(registry);
    expect(Buffer.concat([r.write(Buffer.from('abcdXY')), r.write(Buffer.from('ZWVU')), r.end()]).toString()).toBe('***');
    expect(registry.redact('abcdXYZWVU')).toBe('***');
  });

  it('gives, for random texts and random cuts, exactly what redacting the whole text at once gives', () => {
    const fragment = fc.constantFrom('ab', 'abcd', 'cd', 'cdXY', 'XYZWVU', 'ZWVU', 'VUmn', 'mn0p', 'q9q9', 'q9', 'x', ' ', '\n', 'é', 'ABCD');
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 40 }), fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }), (fragments, cuts) => {
        const text = fragments.join('');
        const expected = oneShot(registry, text);
        expect(registry.redact(text)).toBe(expected);
        expect(through(registry, Buffer.from(text), (i) => cuts[i % cuts.length])).toBe(expected);
      }),
      { numRuns: 500 },
    );
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

describe('the encodings a secret takes through a module', () => {
  const secret = 'Pl4nted&Secret <key>/+=?x y';
  const pem =
    '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAplantedKeyLineOne0123456789abcdef\nQ29weXJpZ2h0IHBsYW50ZWQgbGluZSB0d28gMDEyMzQ1Njc4\n-----END RSA PRIVATE KEY-----\n';
  const registry = new SecretRegistry();
  registry.add(secret, pem);
  const goJson = JSON.stringify(secret).slice(1, -1).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

  it.each([
    ['urlencode() (Go QueryEscape)', queryEscape(secret)],
    ['encodeURIComponent', encodeURIComponent(secret)],
    ['lower-case percent escapes', encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())],
    ['upper()', secret.toUpperCase()],
    ['lower()', secret.toLowerCase()],
    ['hex', Buffer.from(secret).toString('hex')],
    ['HEX', Buffer.from(secret).toString('hex').toUpperCase()],
    ['jsonencode() (Go escapes < > &)', goJson],
    ['a single PEM line', 'MIIEowIBAAKCAQEAplantedKeyLineOne0123456789abcdef'],
    ['the PEM with CRLF line endings', pem.replace(/\n/g, '\r\n')],
  ])('redacts %s in logs (streamed, split across writes)', (_what, form) => {
    const text = `before ${form} after`;
    const r = new StreamRedactor(registry);
    const mid = Math.floor(text.length / 2);
    const out = Buffer.concat([r.write(Buffer.from(text.slice(0, mid))), r.write(Buffer.from(text.slice(mid))), r.end()]).toString();
    expect(out).not.toContain(form);
    expect(out).toContain('***');
    expect(out.startsWith('before ')).toBe(true);
  });

  it('redacts them in plan.json, outputs.json and summaries (JSON documents) too', () => {
    const doc = {
      outputs: { url: { value: `https://x.example/?k=${queryEscape(secret)}` }, hex: { value: Buffer.from(secret).toString('hex') } },
      resources: [{ address: `x["${secret.toUpperCase()}"]` }],
    };
    const text = redactJsonText(doc, registry);
    for (const form of [queryEscape(secret), Buffer.from(secret).toString('hex'), secret.toUpperCase()]) expect(text).not.toContain(form);
    expect(() => JSON.parse(text)).not.toThrow();
  });
});

describe('a secret used as a for_each key (Terraform HCL-quotes it in resource addresses)', () => {
  // addrs.StringKey.String doubles the template introducers: `${` -> `$${`, `%{` -> `%%{`; a quote becomes \".
  const secret = 'Zx9-p4ss${w0rd}Q%{x}';
  const quoted = 'Zx9-p4ss$${w0rd}Q%%{x}';
  const withQuote = 'Zx9"p4ss${w0rd}Q';
  const withQuoteHcl = 'Zx9\\"p4ss$${w0rd}Q';
  const registry = new SecretRegistry();
  registry.add(secret, withQuote);

  it('quotes the key as Terraform does', () => {
    expect(hclQuotedEscape(secret)).toBe(quoted);
    expect(hclQuotedEscape(withQuote)).toBe(withQuoteHcl);
    expect(hclQuotedEscape('a$b%c\tz\u0001')).toBe('a$b%c\\tz\\u0001');
  });

  it.each([
    ['a log line', `terraform_data.k["${quoted}"]: Creating...`],
    ['a log line with a quote in the key', `terraform_data.k["${withQuoteHcl}"]: Creating...`],
    ['a -json UI line (the address JSON-escaped)', JSON.stringify({ hook: { resource: { addr: `terraform_data.k["${quoted}"]` } } })],
    ['a -json UI line with a quote in the key', JSON.stringify({ hook: { resource: { addr: `terraform_data.k["${withQuoteHcl}"]` } } })],
  ])('redacts it in %s, streamed and split at every position', (_what, text) => {
    const input = Buffer.from(text);
    for (let split = 1; split < input.length; split++) {
      const out = through(registry, input, (i) => (i === 0 ? split : input.length));
      for (const leak of ['p4ss', 'w0rd']) expect(out).not.toContain(leak);
      expect(out).toContain(REDACTED);
    }
  });

  it('redacts it in plan.json addresses and the raw JSON text of one', () => {
    const plan = {
      resource_changes: [
        { address: `terraform_data.k["${quoted}"]`, index: secret },
        { address: `terraform_data.k["${withQuoteHcl}"]`, index: withQuote },
      ],
    };
    const text = redactJsonText(plan, registry);
    for (const leak of ['p4ss', 'w0rd']) expect(text).not.toContain(leak);
    expect(JSON.parse(text)).toEqual({
      resource_changes: [
        { address: 'terraform_data.k["***"]', index: '***' },
        { address: 'terraform_data.k["***"]', index: '***' },
      ],
    });
    const raw = '"address":"terraform_data.k[\\"Zx9-p4ss$${w0rd}Q%%{x}\\"]"';
    expect(registry.redact(raw)).toBe('"address":"terraform_data.k[\\"***\\"]"');
  });
});

describe('an over-long -json line', () => {
  it('is never logged raw (it may carry every output value), while plain text of the same length is', () => {
    const h = new JsonUiHumaniser();
    const value = 'sensitive-output-value-'.repeat(20_000);
    const line = JSON.stringify({ '@level': 'info', '@message': 'Outputs: 1', type: 'outputs', outputs: { db: { sensitive: true, value } } });
    expect(line.length).toBeGreaterThan(256 * 1024);
    const out = Buffer.concat([
      h.write(Buffer.from(line.slice(0, 300_000))),
      h.write(Buffer.from(`${line.slice(300_000)}\n`)),
      h.write(Buffer.from('{"@message":"next line","type":"log"}\n')),
      h.end(),
    ]).toString();
    expect(out).not.toContain('sensitive-output-value');
    expect(out).toContain('was not logged');
    expect(out).toContain('next line');
    const plain = 'x'.repeat(300 * 1024);
    expect(Buffer.concat([new JsonUiHumaniser().write(Buffer.from(plain))]).toString()).toBe(plain);
  });
});
