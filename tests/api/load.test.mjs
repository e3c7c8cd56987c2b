// Bounded loopback load: 1,000 concurrent streams all complete correctly; 200 clients that
// disconnect mid-stream leave no KV blocks in use; SIGTERM under load drops no accepted request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, STORIES, metrics, metric, sleep, waitIdle } from './helpers.mjs';

const PROMPT = 'Once upon a time';
const ARGS = [STORIES, '--served-model-name', 'stories', '--num-kv-blocks', '8192', '--max-num-seqs', '256', '--threads', '1',
  '--max-waiting-requests', '2000', '--http-threads', '1400'];

// Streams one completion; resolves {text, finish, done} (done = saw [DONE]).
async function streamOnce(url, body, { abortAfterChunks = 0 } = {}) {
  const ctrl = new AbortController();
  let r;
  try {
    r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'stories', prompt: PROMPT, stream: true, ...body }), signal: ctrl.signal });
  } catch (e) {
    return { status: 'fetch failed: ' + (e.cause?.code ?? e.cause?.message ?? e.message), text: '', finish: null, done: false };
  }
  if (r.status !== 200) return { status: r.status, text: '', finish: null, done: false };
  const dec = new TextDecoder();
  let buf = '', text = '', finish = null, done = false, chunks = 0, aborted = false;
  try {
    for await (const part of r.body) {
      buf += dec.decode(part, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!ev.startsWith('data: ')) continue;
        const data = ev.slice(6);
        if (data === '[DONE]') { done = true; continue; }
        const j = JSON.parse(data);
        for (const c of j.choices) {
          text += c.text;
          if (c.finish_reason) finish = c.finish_reason;
        }
        if (abortAfterChunks && ++chunks >= abortAfterChunks) {
          aborted = true;
          ctrl.abort();
          return { status: 200, text, finish, done, aborted };
        }
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
  }
  return { status: 200, text, finish, done, aborted };
}

test('1,000 concurrent streams complete; 200 mid-stream disconnects free every KV block', async () => {
  const server = await startServer(ARGS);
  try {
    const ref = await (await fetch(`${server.url}/v1/completions`, { method: 'POST',
      body: JSON.stringify({ prompt: PROMPT, max_tokens: 12, temperature: 0, ignore_eos: true }) })).json();
    const expected = ref.choices[0].text;
    const results = await Promise.all(Array.from({ length: 1000 }, () =>
      streamOnce(server.url, { max_tokens: 12, temperature: 0, ignore_eos: true })));
    const bad = results.filter((r) => r.status !== 200 || !r.done || r.finish !== 'length' || r.text !== expected);
    assert.equal(bad.length, 0, `${bad.length} bad, e.g. ${JSON.stringify(bad[0])}`);

    const before = await metrics(server);
    const aborted0 = metric(before, 'vllm:request_success_total', 'finished_reason="abort"');
    const dropped = await Promise.all(Array.from({ length: 200 }, () =>
      streamOnce(server.url, { max_tokens: 400, temperature: 0.8, ignore_eos: true }, { abortAfterChunks: 2 })));
    const notAborted = dropped.filter((r) => !r.aborted);
    assert.ok(notAborted.length <= 10, `${notAborted.length} not aborted, e.g. ${JSON.stringify(notAborted[0])}`);
    const m = await waitIdle(server);
    assert.equal(metric(m, 'vllm:kv_cache_usage_perc'), 0);
    assert.equal(metric(m, 'vllm:num_requests_running'), 0);
    assert.ok(metric(m, 'vllm:request_success_total', 'finished_reason="abort"') - aborted0 >= 180);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  } finally {
    const { code } = await server.stop();
    assert.equal(code, 0, server.log().slice(-2000));
  }
});

test('SIGTERM during load: every accepted stream finishes, then exit 0', async () => {
  const server = await startServer(ARGS);
  let firstChunks = 0;
  const runs = Array.from({ length: 100 }, async () => {
    const r = await streamOnce(server.url, { max_tokens: 64, temperature: 0, ignore_eos: true });
    return r;
  });
  // Wait until the engine has them running, then ask the server to stop.
  for (let i = 0; i < 200; i++) {
    const m = await metrics(server).catch(() => '');
    firstChunks = metric(m, 'vllm:num_requests_running') ?? 0;
    if (firstChunks > 0) break;
    await sleep(20);
  }
  server.proc.kill('SIGTERM');
  const results = await Promise.all(runs);
  const { code } = await server.exited;
  assert.equal(code, 0, server.log().slice(-2000));
  const accepted = results.filter((r) => r.status === 200);
  assert.ok(accepted.length > 0);
  for (const r of accepted) {
    assert.ok(r.done, 'stream ended without [DONE]');
    assert.equal(r.finish, 'length');
  }
  for (const r of results.filter((x) => x.status !== 200)) assert.equal(r.status, 503);
});
