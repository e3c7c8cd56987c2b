// Lifecycle and limits: --request-timeout (clear finish, blocks freed), --max-waiting-requests
// (503 + Retry-After, nothing accepted is lost), CORS per --allowed-origins (preflight + headers),
// non-streaming clients that go away (their requests are aborted), HTTP/1.0 clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, STORIES, metric, metrics, waitIdle, sleep } from './helpers.mjs';

const PROMPT = 'Once upon a time';
const post = (server, p, body, headers = {}) => fetch(`${server.url}${p}`, { method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });

// Parses an SSE body into its JSON events (and whether it ended with [DONE]).
function sseEvents(text) {
  const events = [];
  let done = false;
  for (const block of text.split('\n\n')) {
    if (!block.startsWith('data: ')) continue;
    const data = block.slice(6);
    if (data === '[DONE]') done = true;
    else events.push(JSON.parse(data));
  }
  return { events, done };
}

let timeoutServer, queueServer, corsServer;
before(async () => {
  // 64 choices x 480 tokens is far more than 0.25 s of work even on a fast, idle machine.
  timeoutServer = await startServer([STORIES, '--served-model-name', 'stories', '--num-kv-blocks', '2048', '--threads', '1',
    '--max-num-seqs', '64', '--request-timeout', '0.25']);
  queueServer = await startServer([STORIES, '--served-model-name', 'stories', '--num-kv-blocks', '512', '--threads', '1',
    '--max-num-seqs', '1', '--max-waiting-requests', '2']);
  corsServer = await startServer([STORIES, '--served-model-name', 'stories', '--num-kv-blocks', '256', '--threads', '1',
    '--api-key', 'sk-cors', '--allowed-origins', 'https://app.example,https://other.example']);
});
after(async () => {
  for (const s of [timeoutServer, queueServer, corsServer]) {
    if (!s) continue;
    const { code } = await s.stop();
    assert.equal(code, 0, s.log().slice(-2000));
  }
});

const LONG = { model: 'stories', prompt: PROMPT, n: 64, max_tokens: 480, temperature: 0.8, ignore_eos: true };

test('--request-timeout: non-streaming ends with finish_reason "abort" and an error object; blocks freed', async () => {
  const t0 = Date.now();
  const r = await post(timeoutServer, '/v1/completions', LONG);
  assert.equal(r.status, 200);
  const j = await r.json();
  assert.equal(j.choices.length, 64);
  for (const c of j.choices) assert.equal(c.finish_reason, 'abort');
  assert.equal(j.error.code, 'request_timeout');
  assert.equal(j.error.type, 'timeout_error');
  assert.match(j.error.message, /--request-timeout \(0\.25 s\)/);
  assert.ok(j.usage.completion_tokens < 64 * 480, `${j.usage.completion_tokens} tokens: the request was not cut`);
  assert.ok(Date.now() - t0 < 30000);
  const m = await waitIdle(timeoutServer);
  assert.equal(metric(m, 'vllm:kv_cache_usage_perc'), 0);
  assert.equal(metric(m, 'vllm:num_requests_running'), 0);
  assert.ok(metric(m, 'vllm:request_success_total', 'finished_reason="abort"') >= 1);
});

test('--request-timeout: a stream gets finish_reason "abort" per choice, an error event, then [DONE]', async () => {
  const r = await post(timeoutServer, '/v1/completions', { ...LONG, stream: true, stream_options: { include_usage: true } });
  assert.equal(r.status, 200);
  const { events, done } = sseEvents(await r.text());
  assert.ok(done, 'no [DONE]');
  const finish = new Map();
  for (const e of events) for (const c of e.choices ?? []) if (c.finish_reason) finish.set(c.index, c.finish_reason);
  assert.equal(finish.size, 64);
  for (const f of finish.values()) assert.equal(f, 'abort');
  const errors = events.filter((e) => e.error);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].error.code, 'request_timeout');
  const usage = events.find((e) => e.usage)?.usage;
  assert.ok(usage && usage.completion_tokens < 64 * 480);
  assert.equal(metric(await waitIdle(timeoutServer), 'vllm:kv_cache_usage_perc'), 0);
});

test('--request-timeout: a request that ends in time is untouched; the timeout never fires early', async () => {
  // On a busy CI machine even 2 tokens can take longer than 0.25 s, so every answer is checked for
  // consistency with its own duration, and at least one of the tries must end in time.
  let inTime = 0;
  for (let i = 0; i < 10 && inTime < 3; i++) {
    const t0 = Date.now();
    const r = await post(timeoutServer, '/v1/completions', { model: 'stories', prompt: PROMPT, max_tokens: 2, temperature: 0, ignore_eos: true });
    const j = await r.json();
    const ms = Date.now() - t0;
    if (j.choices[0].finish_reason === 'length') {
      assert.equal(j.error, undefined);
      inTime++;
    } else {
      assert.equal(j.choices[0].finish_reason, 'abort');
      assert.ok(ms >= 250, `timed out after ${ms} ms (< --request-timeout 0.25 s)`);
      assert.equal(j.error.code, 'request_timeout');
    }
  }
  assert.ok(inTime >= 1, 'no 2-token request finished within 0.25 s');
});

test('--max-waiting-requests: a burst beyond the queue gets 503 + Retry-After; accepted requests all complete', async () => {
  const body = { model: 'stories', prompt: PROMPT, max_tokens: 480, temperature: 0, ignore_eos: true };
  const rs = await Promise.all(Array.from({ length: 16 }, async () => {
    const r = await post(queueServer, '/v1/completions', body);
    return { status: r.status, retry: r.headers.get('retry-after'), json: await r.json() };
  }));
  const rejected = rs.filter((r) => r.status === 503), ok = rs.filter((r) => r.status === 200);
  assert.equal(rejected.length + ok.length, 16, JSON.stringify(rs.map((r) => r.status)));
  assert.ok(rejected.length >= 1, 'no request was rejected');
  assert.ok(ok.length >= 1, 'every request was rejected');
  for (const r of rejected) {
    assert.ok(Number(r.retry) >= 1, `Retry-After: ${r.retry}`);
    assert.equal(r.json.error.type, 'service_unavailable_error');
    assert.match(r.json.error.message, /--max-waiting-requests 2/);
  }
  for (const r of ok) {
    assert.equal(r.json.choices[0].finish_reason, 'length');
    assert.equal(r.json.usage.completion_tokens, 480);
  }
  await waitIdle(queueServer);
  const again = await post(queueServer, '/v1/completions', { ...body, max_tokens: 2 });
  assert.equal(again.status, 200);
});

test('CORS: preflight from an allowed origin needs no key and allows the requested headers', async () => {
  const r = await fetch(`${corsServer.url}/v1/chat/completions`, { method: 'OPTIONS', headers: {
    Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST',
    'Access-Control-Request-Headers': 'authorization,content-type,x-stainless-os' } });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(r.headers.get('access-control-allow-methods'), /POST/);
  assert.match(r.headers.get('access-control-allow-headers'), /x-stainless-os/);
  assert.match(r.headers.get('vary') ?? '', /Origin/);
  assert.ok(Number(r.headers.get('access-control-max-age')) > 0);
});

test('CORS: preflight from another origin is refused without CORS headers', async () => {
  const r = await fetch(`${corsServer.url}/v1/completions`, { method: 'OPTIONS', headers: {
    Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('access-control-allow-origin'), null);
  assert.equal(r.headers.get('access-control-allow-methods'), null);
});

test('CORS: responses (also errors) carry the origin only for allowed origins; the key is still required', async () => {
  const auth = { Authorization: 'Bearer sk-cors' };
  const ok = await post(corsServer, '/v1/completions', { prompt: PROMPT, max_tokens: 2 }, { ...auth, Origin: 'https://other.example' });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('access-control-allow-origin'), 'https://other.example');
  await ok.arrayBuffer();
  const noKey = await post(corsServer, '/v1/completions', { prompt: PROMPT, max_tokens: 2 }, { Origin: 'https://app.example' });
  assert.equal(noKey.status, 401);
  assert.equal(noKey.headers.get('access-control-allow-origin'), 'https://app.example');
  await noKey.arrayBuffer();
  const notFound = await fetch(`${corsServer.url}/v1/nothing`, { headers: { ...auth, Origin: 'https://app.example' } });
  assert.equal(notFound.status, 404);
  assert.equal(notFound.headers.get('access-control-allow-origin'), 'https://app.example');  // exactly one value
  await notFound.arrayBuffer();
  const evil = await fetch(`${corsServer.url}/v1/models`, { headers: { ...auth, Origin: 'https://evil.example' } });
  assert.equal(evil.status, 200);
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  await evil.arrayBuffer();
  // A server without --allowed-origins sends no CORS headers at all.
  const none = await fetch(`${queueServer.url}/v1/models`, { headers: { Origin: 'https://app.example' } });
  assert.equal(none.headers.get('access-control-allow-origin'), null);
  await none.arrayBuffer();
});

// Sends one raw HTTP request; resolves with the socket (left open) and a promise of all it reads.
function rawRequest(server, head, body) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1', () => {
      sock.write(`${head}\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      let got = '';
      sock.on('data', (d) => (got += d));
      resolve({ sock, all: new Promise((res) => sock.on('close', () => res(got))) });
    });
    sock.on('error', reject);
  });
}

test('non-streaming clients that disconnect get their requests aborted (not run to max_tokens); HTTP/1.0 gets Content-Length', async () => {
  const server = await startServer([STORIES, '--served-model-name', 'stories', '--num-kv-blocks', '1024', '--threads', '1',
    '--max-num-seqs', '4']);
  try {
    // 8 requests x 16 choices x 480 tokens, 4 sequences at a time: seconds of work on any machine.
    const body = JSON.stringify({ model: 'stories', prompt: PROMPT, n: 16, max_tokens: 480, temperature: 0.8, ignore_eos: true });
    const m0 = await metrics(server);
    const tokens0 = metric(m0, 'vllm:generation_tokens_total') ?? 0;
    const aborts0 = metric(m0, 'vllm:request_success_total', 'finished_reason="abort"') ?? 0;
    const clients = await Promise.all(Array.from({ length: 8 }, () => rawRequest(server, 'POST /v1/completions HTTP/1.1', body)));
    for (let i = 0; i < 500 && !(metric(await metrics(server), 'vllm:num_requests_running') > 0); i++) await sleep(10);
    for (const c of clients) c.sock.destroy();
    const m = await waitIdle(server);
    assert.equal(metric(m, 'vllm:num_requests_running'), 0);
    assert.equal(metric(m, 'vllm:num_requests_waiting'), 0);
    assert.equal(metric(m, 'vllm:kv_cache_usage_perc'), 0);
    const generated = metric(m, 'vllm:generation_tokens_total') - tokens0;
    assert.ok(generated < (8 * 16 * 480) / 2, `${generated} tokens generated for clients that were gone`);
    assert.ok(metric(m, 'vllm:request_success_total', 'finished_reason="abort"') - aborts0 >= 8 * 16 / 2);

    // HTTP/1.0 has no chunked encoding: the whole body with Content-Length, then the server closes.
    const small = JSON.stringify({ model: 'stories', prompt: PROMPT, max_tokens: 4, temperature: 0 });
    const old = await rawRequest(server, 'POST /v1/completions HTTP/1.0', small);
    const text = await old.all;
    const [head, payload] = text.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.[01] 200/);
    assert.match(head, /\r\nContent-Length: \d+/i);
    assert.doesNotMatch(head, /Transfer-Encoding/i);
    assert.equal(JSON.parse(payload).choices[0].finish_reason, 'length');
  } finally {
    const { code } = await server.stop();
    assert.equal(code, 0, server.log().slice(-2000));
  }
});
