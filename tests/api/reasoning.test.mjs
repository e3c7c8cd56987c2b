// DeepSeek-R1 reasoning split with the tiny random Qwen2 (real 151936 vocab) + the R1 tokenizer:
// the template ends the prompt with `<think>\n`, so the whole greedy output is reasoning.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, client, TEST_MODELS, SHARED } from './helpers.mjs';

const QWEN = path.join(TEST_MODELS, 'qwen2');
const TOKENIZER = path.join(SHARED, 'tokenizers/deepseek-r1-distill-qwen');
let server, ai;
const messages = [{ role: 'user', content: 'What is 2+2?' }];

before(async () => {
  if (!fs.existsSync(path.join(QWEN, 'config.json'))) throw new Error(`missing ${QWEN}: run tests/data/numerics/make_models.py`);
  server = await startServer([QWEN, '--tokenizer', TOKENIZER, '--served-model-name', 'r1', '--num-kv-blocks', '256',
    '--max-model-len', '1024', '--threads', '1']);
  ai = client(server);
});
after(async () => assert.equal((await server.stop()).code, 0));

// The same prompt through /v1/completions with the rendered ids: the raw greedy text.
async function rawGreedy(maxTokens) {
  const tok = await (await fetch(`${server.url}/tokenize`, { method: 'POST', body: JSON.stringify({ messages }) })).json();
  const r = await ai.completions.create({ model: 'r1', prompt: tok.tokens, max_tokens: maxTokens, temperature: 0 });
  return { text: r.choices[0].text, ids: tok.tokens };
}

test('the rendered prompt ends in <think>\\n', async () => {
  const tok = await (await fetch(`${server.url}/tokenize`, { method: 'POST', body: JSON.stringify({ messages }) })).json();
  const detok = await (await fetch(`${server.url}/detokenize`, { method: 'POST', body: JSON.stringify({ tokens: tok.tokens }) })).json();
  assert.ok(detok.prompt.endsWith('<think>\n'), JSON.stringify(detok.prompt.slice(-30)));
});

test('non-streaming: the whole greedy output is in reasoning_content and reasoning; content is empty', async () => {
  const raw = await rawGreedy(16);
  const r = await ai.chat.completions.create({ model: 'r1', messages, max_tokens: 16, temperature: 0 });
  const m = r.choices[0].message;
  const expected = raw.text.split('</think>')[0];
  assert.equal(m.reasoning_content, expected);
  assert.equal(m.reasoning, expected);
  if (!raw.text.includes('</think>')) assert.ok(m.content === null || m.content === '');
  assert.equal(r.usage.completion_tokens_details.reasoning_tokens, raw.text.includes('</think>') ? r.usage.completion_tokens_details.reasoning_tokens : 16);
});

test('streaming: reasoning deltas concatenate to the same strings, no content', async () => {
  const whole = await ai.chat.completions.create({ model: 'r1', messages, max_tokens: 16, temperature: 0 });
  const stream = await ai.chat.completions.create({ model: 'r1', messages, max_tokens: 16, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  let reasoning = '', reasoning2 = '', content = '', usage = null;
  for await (const c of stream) {
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      reasoning += ch.delta.reasoning_content ?? '';
      reasoning2 += ch.delta.reasoning ?? '';
      content += ch.delta.content ?? '';
    }
  }
  assert.equal(reasoning, whole.choices[0].message.reasoning_content);
  assert.equal(reasoning2, reasoning);
  assert.equal(content, whole.choices[0].message.content ?? '');
  assert.equal(usage.completion_tokens_details.reasoning_tokens, whole.usage.completion_tokens_details.reasoning_tokens);
});

test('an earlier assistant turn with reasoning is re-rendered without it (template)', async () => {
  const conv = [...messages, { role: 'assistant', content: '<think>\nsecret thoughts\n</think>\n\n4' }, { role: 'user', content: 'And 3+3?' }];
  const tok = await (await fetch(`${server.url}/tokenize`, { method: 'POST', body: JSON.stringify({ messages: conv }) })).json();
  const detok = await (await fetch(`${server.url}/detokenize`, { method: 'POST', body: JSON.stringify({ tokens: tok.tokens }) })).json();
  assert.ok(!detok.prompt.includes('secret thoughts'));
  const r = await ai.chat.completions.create({ model: 'r1', messages: conv, max_tokens: 4, temperature: 0 });
  assert.equal(typeof r.choices[0].message.reasoning_content, 'string');
});
