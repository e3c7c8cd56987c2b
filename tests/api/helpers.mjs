// Shared helpers of the API tests: start `dsserve serve` on a free loopback port, wait for /health,
// stop it. Environment: DSSERVE_BIN (the binary), DSSERVE_SHARED (../shared), DSSERVE_TEST_MODELS
// (folder written by tests/data/numerics/make_models.py; only the reasoning test needs it).
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const BIN = process.env.DSSERVE_BIN ?? path.join(ROOT, 'build/dsserve');
export const SHARED = process.env.DSSERVE_SHARED ?? path.resolve(ROOT, '../shared');
export const STORIES = path.join(SHARED, 'models/stories260k');
export const TEST_MODELS = process.env.DSSERVE_TEST_MODELS ?? path.join(ROOT, 'build/test_models');
export const CHAT_TEMPLATE = path.join(here, 'data/simple_chat.jinja');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts the server; resolves once /health answers 200. Returns {url, proc, port, log(), stop()}.
export async function startServer(args, { env = {}, timeoutMs = 60000 } = {}) {
  const port = await freePort();
  const proc = spawn(BIN, ['serve', ...args, '--host', '127.0.0.1', '--port', String(port)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`dsserve exited early (${proc.exitCode}):\n${log}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`dsserve did not become healthy:\n${log}`);
    }
    await sleep(50);
  }
  return {
    url,
    port,
    proc,
    exited,
    log: () => log,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

export function client(server, apiKey = 'unused') {
  return new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 120000 });
}

// Reads a metric value (first sample whose name matches exactly, any labels) from /metrics text.
export function metric(text, name, labelFilter = '') {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (m && m[1] === name && (m[2] ?? '').includes(labelFilter)) return Number(m[3]);
  }
  return undefined;
}

export async function metrics(server, headers = {}) {
  let r;
  try {
    r = await fetch(`${server.url}/metrics`, { headers });
  } catch (e) {  // name the socket error and show what the server said last
    const why = e.cause?.code ?? e.cause?.message ?? e.message;
    throw new Error(`GET /metrics failed (${why}); exit code ${server.proc.exitCode}; server log:\n${server.log().slice(-1500)}`);
  }
  return r.text();
}

// Polls /metrics until nothing runs or waits and the KV cache is empty (or the timeout); returns the
// last scrape.
export async function waitIdle(server, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let m;
  while (Date.now() < deadline) {
    m = await metrics(server);
    if (metric(m, 'vllm:num_requests_running') === 0 && metric(m, 'vllm:num_requests_waiting') === 0 &&
        metric(m, 'vllm:kv_cache_usage_perc') === 0) return m;
    await sleep(100);
  }
  return m;
}
