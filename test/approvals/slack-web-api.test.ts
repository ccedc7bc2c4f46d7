/** The real @slack/web-api client against a loopback stand-in for slack.com/api: what goes over the wire, and a refusal. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { API_SLACK_BUDGET, SlackWebApiPoster } from '../../lambdas/approvals/adapters/slack-web-api';

let server: Server;
let url: string;
const requests: { path: string; auth?: string; body: string }[] = [];
let answer: Record<string, unknown> = { ok: true, ts: '1700000000.000200', channel: 'C0PRODAPPROVALS' };
let status = 200;
beforeEach(() => {
  requests.length = 0;
  status = 200;
  answer = { ok: true, ts: '1700000000.000200', channel: 'C0PRODAPPROVALS' };
});

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', auth: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') });
      if (status !== 200) {
        res.writeHead(status);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

it('posts chat.postMessage with the bot token in the Authorization header and the blocks in the body', async () => {
  let reads = 0;
  const poster = new SlackWebApiPoster(async () => {
    reads++;
    return 'xoxb-test-bot-token';
  }, url);
  const out = await poster.post({ channel: 'C0PRODAPPROVALS', text: 'Apply?', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }] });
  await poster.post({ channel: 'C0PRODAPPROVALS', text: 'again', blocks: [] });
  // Slack's answer names the conversation id, which chat.update needs later.
  expect(out).toEqual({ ts: '1700000000.000200', channel: 'C0PRODAPPROVALS' });
  // The token is asked for on every call (cachedSecret keeps it for 5 minutes), one client per token value.
  expect(reads).toBe(2);
  expect(requests[0].path).toBe('/api/chat.postMessage');
  expect(requests[0].auth).toBe('Bearer xoxb-test-bot-token');
  expect(requests[0].body).not.toContain('xoxb-test-bot-token');
  expect(decodeURIComponent(requests[0].body)).toContain('"text":"hello"');
  expect(decodeURIComponent(requests[0].body)).toContain('C0PRODAPPROVALS');
});

it("surfaces Slack's refusal as an error carrying Slack's error code (what the approval request logs)", async () => {
  answer = { ok: false, error: 'channel_not_found' };
  const poster = new SlackWebApiPoster(async () => 'xoxb-test-bot-token', url);
  await expect(poster.post({ channel: 'C0NOPE', text: 'x', blocks: [] })).rejects.toMatchObject({
    code: 'slack_webapi_platform_error',
    data: { error: 'channel_not_found' },
  });
});

it('replaces a posted message with chat.update on its channel and ts, the token in the Authorization header only', async () => {
  const poster = new SlackWebApiPoster(async () => 'xoxb-test-bot-token', url, API_SLACK_BUDGET);
  await poster.update(
    { channel: 'C0PRODAPPROVALS', ts: '1700000000.000200' },
    { text: 'Approved', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'Approved by someone' } }] },
  );
  expect(requests).toHaveLength(1);
  expect(requests[0].path).toBe('/api/chat.update');
  expect(requests[0].auth).toBe('Bearer xoxb-test-bot-token');
  const body = decodeURIComponent(requests[0].body);
  expect(body).not.toContain('xoxb-test-bot-token');
  expect(body).toContain('ts=1700000000.000200');
  expect(body).toContain('channel=C0PRODAPPROVALS');
  expect(body).toContain('"text":"Approved by someone"');
});

it("gives Slack one attempt within the API's budget (the person deciding waits for it), where the approval request retries", async () => {
  status = 500;
  await expect(
    new SlackWebApiPoster(async () => 'xoxb-test-bot-token', url, API_SLACK_BUDGET).update(
      { channel: 'C0PRODAPPROVALS', ts: '1.2' },
      { text: 'x', blocks: [] },
    ),
  ).rejects.toThrow();
  expect(requests).toHaveLength(1);
  requests.length = 0;
  await expect(new SlackWebApiPoster(async () => 'xoxb-test-bot-token', url).post({ channel: 'C0PRODAPPROVALS', text: 'x', blocks: [] })).rejects.toThrow();
  expect(requests).toHaveLength(3);
});

it('builds a new client when the bot token changes (a rotated secret is picked up without a cold start)', async () => {
  let token = 'xoxb-first';
  const poster = new SlackWebApiPoster(async () => token, url);
  await poster.post({ channel: 'C0PRODAPPROVALS', text: 'one', blocks: [] });
  token = 'xoxb-rotated';
  await poster.post({ channel: 'C0PRODAPPROVALS', text: 'two', blocks: [] });
  expect(requests.map((r) => r.auth)).toEqual(['Bearer xoxb-first', 'Bearer xoxb-rotated']);
});
