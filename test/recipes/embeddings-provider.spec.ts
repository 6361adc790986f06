import { countTokens, embeddingOf, startEmbeddingsProvider, type EmbeddingsProvider } from '../support/embeddings-provider';

/* The local provider the recipe and the benchmark run against: it must refuse what a real one refuses. */

const post = (provider: EmbeddingsProvider, input: unknown) =>
  fetch(`${provider.url}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input, model: 'm' }) });

describe('the local OpenAI-compatible embeddings provider', () => {
  let provider: EmbeddingsProvider;
  afterEach(() => provider?.close());

  it('answers one embedding per input, in order, with the usage in tokens', async () => {
    provider = await startEmbeddingsProvider({ maxTokensPerRequest: 100, tokensPerWindow: 1000, windowMs: 60_000 });
    const res = await post(provider, ['a cat', 'a dog sat on the mat']);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Array<{ index: number; embedding: number[] }>; usage: { total_tokens: number } };
    expect(body.data.map((d) => [d.index, d.embedding])).toEqual([
      [0, embeddingOf('a cat')],
      [1, embeddingOf('a dog sat on the mat')],
    ]);
    expect(body.usage.total_tokens).toBe(countTokens('a cat') + countTokens('a dog sat on the mat'));
    expect(provider.counts).toMatchObject({ requests: 1, ok: 1, inputs: 2, tokens: 2 + 5 });
  });

  it('refuses a request over the per-request token cap with 413', async () => {
    provider = await startEmbeddingsProvider({ maxTokensPerRequest: 10, tokensPerWindow: 1000, windowMs: 60_000 });
    const res = await post(provider, ['x'.repeat(24), 'y'.repeat(20)]);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('This request has 11 tokens; the limit is 10 per request.');
    expect(provider.counts).toMatchObject({ requests: 1, ok: 0, tooLarge: 1 });
  });

  it('answers 429 with retry-after-ms and retry-after once the window quota is spent, and again after it slid', async () => {
    provider = await startEmbeddingsProvider({ maxTokensPerRequest: 10, tokensPerWindow: 10, requestsPerWindow: 5, windowMs: 300 });
    expect((await post(provider, 'x'.repeat(32))).status).toBe(200);
    const refused = await post(provider, 'x'.repeat(12));
    expect(refused.status).toBe(429);
    const ms = Number(refused.headers.get('retry-after-ms'));
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThanOrEqual(300);
    expect(refused.headers.get('retry-after')).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, ms + 5));
    expect((await post(provider, 'x'.repeat(12))).status).toBe(200);
    expect(provider.counts).toMatchObject({ ok: 2, rateLimited: 1, peakWindowTokens: 8 });
  });

  it('counts requests per window too', async () => {
    provider = await startEmbeddingsProvider({ maxTokensPerRequest: 10, tokensPerWindow: 1000, requestsPerWindow: 2, windowMs: 60_000 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(provider, 'hi')).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});
