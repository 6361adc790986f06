'use strict';
/*
 * Batching calls to a model API with quotas: the local OpenAI-compatible embeddings provider of
 * the specs (test/support/embeddings-provider.ts), 2,000 concurrent callers each looping
 * `embed(text)` for a fixed time, texts of 10 to 400 tokens.
 *
 *   provider    per-request cap 8,192 tokens; quota 200,000 tokens and 60 requests per window.
 *               The window is a "minute" scaled down to 2,000 ms to keep the run short: the
 *               figures per window are those of a real minute, the run lasts seconds.
 *   no batching one request per value, retried after the provider's retry-after-ms on a 429
 *               (what an SDK does).
 *   count       the recipe's serving without .cost, maxBatchCost or rateLimit: batches of up to
 *               256 values, over the token cap at times (413, then halved), 429 when the quota
 *               is spent (then paused for retry-after-ms).
 *   cost + rate the README recipe (examples/openai-embeddings.ts): cost = tokens, maxBatchCost =
 *               the cap, rateLimit = the quota.
 *
 * Reports values/s, the provider's 429 and 413 answers, the calls made, and the quota used in
 * the steady state: tokens the provider accepted after the first window (which starts empty, so
 * the whole quota goes at once) over the quota of the windows that followed.
 *
 *   node bench/model-api.js [--quick] [--json] [--rounds N] [--seconds S]
 */
require('@swc-node/register');
const { startEmbeddingsProvider, countTokens } = require('../test/support/embeddings-provider.ts');
const { openAiEmbeddings } = require('../examples/openai-embeddings.ts');
// The library as the recipe sees it (lib/, through swc): this benchmark is bound by the provider's quota, not by CPU.
const { BatchServing } = require('../lib/index.ts');
const { spawnSync } = require('node:child_process');
const { median, table, numberArg, emitJson, runMain, JSON_PREFIX } = require('./lib/report');

const CALLERS = 2000;
const WINDOW_MS = 2000;
const LIMITS = { maxTokensPerRequest: 8192, tokensPerWindow: 200_000, requestsPerWindow: 60, windowMs: WINDOW_MS, latencyMs: 20 };

/** A text of 10 to 400 tokens (four characters a token), from a fixed sequence. */
function textOf(i) {
  const tokens = 10 + ((i * 7919) % 391);
  return `${i} `.padEnd(tokens * 4, 'lorem ipsum ');
}

const account = (url) => ({ baseUrl: url, model: 'local', maxTokensPerRequest: LIMITS.maxTokensPerRequest, tokensPerMinute: LIMITS.tokensPerWindow, requestsPerMinute: LIMITS.requestsPerWindow, minuteMs: WINDOW_MS });

/** One request per value; a 429 waits retry-after-ms and tries again, as SDKs do. */
function unbatched(url) {
  const embed = async (text, signal) => {
    for (;;) {
      const body = JSON.stringify({ model: 'local', input: text });
      let response;
      try {
        response = await fetch(`${url}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal });
      } catch (error) {
        // 2,000 sockets at once: a connection may be reset; an SDK tries again.
        if (signal.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (response.ok) return (await response.json()).data[0].embedding;
      await response.arrayBuffer();
      if (response.status !== 429) throw new Error(`provider answered ${response.status}`);
      await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get('retry-after-ms'))));
    }
  };
  return { embed, close: async () => undefined };
}

function served(url, withBudgets) {
  const { serving, options } = openAiEmbeddings(account(url));
  // Count batching: the same serving and retries, without the budget and the rate limit.
  const settings = withBudgets ? options : { batchSize: 256, batchTimeout: options.batchTimeout, partitions: options.partitions, retry: options.retry };
  const running = BatchServing.start(serving, { name: 'embed', maxQueueSize: 1_000_000, ...settings });
  return { embed: (text, signal) => running.dispatch(text, { signal }), close: () => running.close('reject', 1000), stats: () => running.stats() };
}

const CONTENDERS = {
  'no batching': (url) => unbatched(url),
  'count batching': (url) => served(url, false),
  'cost + rate limit': (url) => served(url, true),
};

async function round(name, seconds) {
  const provider = await startEmbeddingsProvider(LIMITS);
  const client = CONTENDERS[name](provider.url);
  const stop = new AbortController();
  const end = performance.now() + seconds * 1000;
  let done = 0;
  let next = 0;
  const caller = async () => {
    while (performance.now() < end) {
      try {
        await client.embed(textOf(next++), stop.signal);
        if (performance.now() <= end) done++;
      } catch (error) {
        if (!stop.signal.aborted) throw error;
      }
    }
  };
  const callers = Promise.all(Array.from({ length: CALLERS }, caller));
  // The first window starts empty, so the whole quota goes at once; the steady state is after it.
  await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
  const afterFirstWindow = provider.counts.tokens;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000 - WINDOW_MS));
  const counts = { ...provider.counts };
  const stats = client.stats?.();
  stop.abort(new Error('the run is over'));
  await callers;
  await client.close();
  await provider.close();
  const steadyQuota = (LIMITS.tokensPerWindow * (seconds * 1000 - WINDOW_MS)) / WINDOW_MS;
  return {
    rate: done / seconds,
    tooLarge: counts.tooLarge,
    rateLimited: counts.rateLimited,
    calls: counts.requests,
    accepted: counts.ok,
    quotaUsed: (counts.tokens - afterFirstWindow) / steadyQuota,
    largest: counts.largestRequestTokens,
    peakWindow: counts.peakWindowTokens,
    retries: stats?.retries ?? 0,
    meanBatchCost: stats?.meanBatchCost ?? 0,
  };
}

/** One round of one contender in a child process of its own: no sockets, timers or JIT state left over from another. */
function inChild(name, seconds) {
  const child = spawnSync(process.execPath, [__filename, '--child', name, '--seconds', String(seconds)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: (seconds + 60) * 1000 });
  const line = (child.stdout ?? '').split('\n').find((l) => l.startsWith(JSON_PREFIX));
  if (!line) throw new Error(`${name}: no result (exit ${child.status}, ${child.signal ?? 'no signal'})`);
  return JSON.parse(line.slice(JSON_PREFIX.length));
}

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const rounds = numberArg(argv, '--rounds', quick ? 1 : 3);
  const seconds = numberArg(argv, '--seconds', quick ? 2 : 8);
  const childAt = argv.indexOf('--child');
  if (childAt >= 0) return emitJson(await round(argv[childAt + 1], seconds));
  const onlyAt = argv.indexOf('--only');
  const names = onlyAt >= 0 ? argv[onlyAt + 1].split(',') : Object.keys(CONTENDERS);
  const results = {};
  for (let r = 0; r < rounds; r++) {
    for (const name of names) {
      const result = inChild(name, seconds);
      (results[name] ??= []).push(result);
      process.stderr.write(`round ${r + 1} ${name}: ${JSON.stringify(result)}\n`);
    }
  }
  const med = (name, field) => median(results[name].map((x) => x[field]));
  const rows = [['contender', 'values/s', 'x no batching', '429s', '413s', 'calls', 'quota used', 'largest request', 'peak window tokens']];
  for (const name of names) {
    rows.push([
      name,
      med(name, 'rate').toFixed(0),
      results['no batching'] ? (med(name, 'rate') / med('no batching', 'rate')).toFixed(1) : '-',
      med(name, 'rateLimited'),
      med(name, 'tooLarge'),
      med(name, 'calls'),
      `${(100 * med(name, 'quotaUsed')).toFixed(1)}%`,
      med(name, 'largest'),
      med(name, 'peakWindow'),
    ]);
  }
  console.log(`${CALLERS} callers, ${seconds} s a round, median of ${rounds}; provider: ${LIMITS.maxTokensPerRequest} tokens/request, ${LIMITS.tokensPerWindow} tokens and ${LIMITS.requestsPerWindow} requests per ${WINDOW_MS} ms window`);
  console.log(table(rows));
  if (argv.includes('--json')) emitJson({ rows, rounds, seconds, limits: LIMITS, callers: CALLERS, countTokensOfSample: countTokens(textOf(1)) });
}

runMain(main);
