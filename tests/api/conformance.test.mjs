// OpenAI API conformance with the official `openai` SDK against `dsserve serve` on stories260k.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, client, STORIES, BIN, CHAT_TEMPLATE, metrics, metric } from './helpers.mjs';

let server, ai;
const MODEL = 'stories';
const PROMPT = 'Once upon a time';

before(async () => {
  server = await startServer([STORIES, '--served-model-name', MODEL, 'alias', '--num-kv-blocks', '2048',
    '--chat-template', CHAT_TEMPLATE, '--threads', '1']);
  ai = client(server);
});
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, server.log());
});

test('GET /v1/models lists the served names', async () => {
  const list = await ai.models.list();
  const ids = list.data.map((m) => m.id);
  assert.deepEqual(ids, [MODEL, 'alias']);
  assert.equal(list.data[0].object, 'model');
});

test('greedy completion equals `dsserve generate --json`', async () => {
  const r = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 24, temperature: 0 });
  const ref = JSON.parse(execFileSync(BIN, ['generate', '--model', STORIES, '--prompt', PROMPT, '--max-tokens', '24',
    '--temperature', '0', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
  assert.equal(r.choices[0].text, ref.text);
  assert.equal(r.object, 'text_completion');
  assert.equal(r.model, MODEL);
  assert.equal(r.usage.prompt_tokens, ref.prompt_ids.length);
  assert.equal(r.usage.completion_tokens, ref.output_ids.length);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.ok(['length', 'stop'].includes(r.choices[0].finish_reason));
});

test('streamed completion concatenates to the non-streamed text; include_usage adds a usage chunk', async () => {
  const whole = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 20, temperature: 0 });
  const stream = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 20, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  let text = '', usage = null, finish = null, chunks = 0;
  for await (const c of stream) {
    chunks++;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      text += ch.text;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.equal(text, whole.choices[0].text);
  assert.ok(chunks > 2);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.deepEqual(usage, whole.usage);
});

test('no usage chunk without stream_options.include_usage', async () => {
  const stream = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 5, temperature: 0, stream: true });
  for await (const c of stream) assert.ok(!c.usage);
});

test('n=2 gives two choices; seeded sampling is reproducible', async () => {
  const req = { model: MODEL, prompt: PROMPT, max_tokens: 16, temperature: 1.0, n: 2, seed: 1234 };
  const a = await ai.completions.create(req);
  const b = await ai.completions.create(req);
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.index).sort(), [0, 1]);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
  assert.equal(a.usage.completion_tokens, a.choices.length * 16 - 0 || a.usage.completion_tokens);
  const c = await ai.completions.create({ ...req, seed: 99 });
  assert.notDeepEqual(a.choices.map((x) => x.text), c.choices.map((x) => x.text));
});

test('n=2 streaming carries both indexes', async () => {
  const stream = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 8, temperature: 1, n: 2, seed: 7, stream: true });
  const texts = ['', ''], done = [false, false];
  for await (const c of stream) for (const ch of c.choices) {
    texts[ch.index] += ch.text;
    if (ch.finish_reason) done[ch.index] = true;
  }
  assert.deepEqual(done, [true, true]);
  const whole = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 8, temperature: 1, n: 2, seed: 7 });
  assert.deepEqual(texts, whole.choices.map((c) => c.text));
});

test('completion logprobs: tokens, token_logprobs, top_logprobs, text_offset', async () => {
  const r = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 6, temperature: 0, logprobs: 3 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, 6);
  assert.equal(lp.token_logprobs.length, 6);
  assert.equal(lp.top_logprobs.length, 6);
  assert.equal(lp.tokens.join(''), r.choices[0].text.length ? lp.tokens.join('') : '');
  for (let i = 0; i < 6; i++) {
    assert.ok(lp.token_logprobs[i] <= 0);
    const tops = Object.values(lp.top_logprobs[i]);
    assert.ok(tops.length >= 1 && tops.length <= 3);
    assert.ok(Math.max(...tops) >= lp.token_logprobs[i] - 1e-5);  // greedy picks the best
  }
  assert.equal(lp.text_offset[0], 0);
});

test('chat logprobs with top_logprobs', async () => {
  const r = await ai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Tell a story' }],
    max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 2 });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 5);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 2);
    assert.ok(Array.isArray(t.bytes));
  }
});

test('stop string ends the completion without the stop text', async () => {
  const whole = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 30, temperature: 0 });
  const text = whole.choices[0].text;
  const word = text.trim().split(' ')[2];
  const r = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 30, temperature: 0, stop: [word] });
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].text, text.slice(0, text.indexOf(word)));
  assert.equal(r.choices[0].stop_reason, word);
});

test('chat completion (non-stream and stream) through the chat template', async () => {
  const messages = [{ role: 'user', content: 'Tell me a story' }];
  const r = await ai.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.choices[0].message.content.length > 0);
  const stream = await ai.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  let text = '', role = null, usage = null, finish = null;
  for await (const c of stream) {
    assert.equal(c.object, 'chat.completion.chunk');
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      if (ch.delta.role) role = ch.delta.role;
      text += ch.delta.content ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, r.choices[0].message.content);
  assert.equal(finish, r.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, r.usage.completion_tokens);
  assert.equal(usage.prompt_tokens, r.usage.prompt_tokens);
});

test('prompt as token ids and as a list of prompts; echo', async () => {
  const tok = await (await fetch(`${server.url}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt: PROMPT }) })).json();
  assert.equal(tok.count, tok.tokens.length);
  const byText = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 8, temperature: 0 });
  const byIds = await ai.completions.create({ model: MODEL, prompt: tok.tokens, max_tokens: 8, temperature: 0 });
  assert.equal(byIds.choices[0].text, byText.choices[0].text);
  const two = await ai.completions.create({ model: MODEL, prompt: [PROMPT, 'The cat'], max_tokens: 8, temperature: 0 });
  assert.equal(two.choices.length, 2);
  assert.equal(two.choices[0].text, byText.choices[0].text);
  const echo = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 8, temperature: 0, echo: true });
  assert.equal(echo.choices[0].text, PROMPT + byText.choices[0].text);
  const detok = await (await fetch(`${server.url}/detokenize`, { method: 'POST', body: JSON.stringify({ tokens: tok.tokens }) })).json();
  assert.ok(detok.prompt.includes(PROMPT));
});

// /tokenize takes chat messages as /v1/chat/completions does: text parts joined, other parts a 400
// (it used to hand content-part arrays to the template unchecked).
test('/tokenize normalizes and checks chat messages like the chat endpoint', async () => {
  const tokenize = async (messages) => fetch(`${server.url}/tokenize`, { method: 'POST', body: JSON.stringify({ messages }) });
  const plain = await (await tokenize([{ role: 'user', content: 'Once upon\na time' }])).json();
  const parts = await (await tokenize([{ role: 'user', content: [{ type: 'text', text: 'Once upon' }, { type: 'text', text: 'a time' }] }])).json();
  assert.ok(plain.count > 0);
  assert.deepEqual(parts.tokens, plain.tokens);
  for (const content of [[{ type: 'image_url', image_url: { url: 'x' } }], [{ type: 'text', text: 5 }]]) {
    const messages = [{ role: 'user', content }];
    const r = await tokenize(messages);
    assert.equal(r.status, 400, JSON.stringify(content));
    assert.match((await r.json()).error.message, /only text content parts/);
    await assert.rejects(ai.chat.completions.create({ model: MODEL, messages, max_tokens: 2 }), (e) => {
      assert.equal(e.status, 400);
      assert.match(e.message, /only text content parts/);
      return true;
    });
  }
});

test('echo with logprobs is a documented 400 (no prompt logprobs); echo streams the prompt first', async () => {
  await assert.rejects(ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 4, echo: true, logprobs: 1 }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.param, 'echo');
    assert.match(e.message, /prompt logprobs/);
    return true;
  });
  const whole = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 6, temperature: 0, echo: true });
  const stream = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 6, temperature: 0, echo: true, stream: true });
  const parts = [];
  for await (const c of stream) for (const ch of c.choices) parts.push(ch.text);
  assert.equal(parts[0], PROMPT);
  assert.equal(parts.join(''), whole.choices[0].text);
});

test('vLLM sampling extras top-level: top_k, min_p, repetition_penalty, min_tokens, ignore_eos, stop_token_ids', async () => {
  const r = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 10, temperature: 0.8, seed: 3,
    top_k: 20, min_p: 0.05, repetition_penalty: 1.1, min_tokens: 10, ignore_eos: true, stop_token_ids: [] });
  assert.equal(r.usage.completion_tokens, 10);
});

test('error types: unknown model 404, bad field 400 with OpenAI body', async () => {
  await assert.rejects(ai.completions.create({ model: 'nope', prompt: PROMPT, max_tokens: 4 }), (e) => {
    assert.equal(e.status, 404);
    assert.equal(e.error?.code ?? e.code, 'model_not_found');
    return true;
  });
  await assert.rejects(ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 4, temperature: -1 }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.type, 'invalid_request_error');
    return true;
  });
  await assert.rejects(ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 100000 }), (e) => e.status === 400);
});

test('/version and /health are plain', async () => {
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
  const v = await (await fetch(`${server.url}/version`)).json();
  assert.equal(typeof v.version, 'string');
});

test('/metrics counters agree with what was sent', async () => {
  const before = await metrics(server);
  const p0 = metric(before, 'vllm:prompt_tokens_total'), g0 = metric(before, 'vllm:generation_tokens_total');
  const s0 = metric(before, 'vllm:request_success_total', 'finished_reason="length"');
  const r = await ai.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 7, temperature: 0, ignore_eos: true });
  const afterText = await metrics(server);
  assert.equal(metric(afterText, 'vllm:prompt_tokens_total') - p0, r.usage.prompt_tokens);
  assert.equal(metric(afterText, 'vllm:generation_tokens_total') - g0, 7);
  assert.equal(metric(afterText, 'vllm:request_success_total', 'finished_reason="length"') - s0, 1);
  assert.ok(metric(afterText, 'vllm:e2e_request_latency_seconds_count') >= 1);
  assert.ok(metric(afterText, 'vllm:time_to_first_token_seconds_count') >= 1);
  // vLLM's config info: the cache flags in the labels (this server: --num-kv-blocks 2048, defaults otherwise).
  assert.equal(metric(afterText, 'vllm:cache_config_info', 'block_size="16",cache_dtype="auto"'), 1);
  assert.equal(metric(afterText, 'vllm:cache_config_info', 'num_gpu_blocks="2048"'), 1);
});
