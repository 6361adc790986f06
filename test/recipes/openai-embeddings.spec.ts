import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchServing } from 'nestjs-batch-serving';
import { openAiEmbeddings } from '../../examples/openai-embeddings';
import { embeddingOf, startEmbeddingsProvider, type EmbeddingsProvider } from '../support/embeddings-provider';

/*
 * The README recipe (examples/openai-embeddings.ts, shown verbatim in the README) against a local
 * OpenAI-compatible provider that enforces a per-request token cap and a per-window quota. The
 * provider's "minute" is 1,000 ms here, so that the quota binds within a few seconds.
 */

const LIMITS = { maxTokensPerRequest: 2000, tokensPerWindow: 40_000, requestsPerWindow: 40, windowMs: 1000, latencyMs: 10 };

/** 4 to 100 tokens, four characters a token. */
const textOf = (i: number) => `document ${i} `.padEnd(4 * (4 + ((i * 37) % 97)), 'word ');

describe('recipe: an OpenAI-compatible embeddings endpoint through fetch', () => {
  let provider: EmbeddingsProvider;
  afterEach(() => provider?.close());

  it('is shown in the README as it is tested', () => {
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    const recipe = readFileSync(join(__dirname, '../../examples/openai-embeddings.ts'), 'utf8');
    expect(readme).toContain(recipe.trim());
  });

  it('gives thousands of concurrent callers their embeddings, with no request over the caps and few 429s', async () => {
    provider = await startEmbeddingsProvider(LIMITS);
    const { serving, options } = openAiEmbeddings({
      baseUrl: provider.url,
      model: 'local',
      maxTokensPerRequest: LIMITS.maxTokensPerRequest,
      tokensPerMinute: LIMITS.tokensPerWindow,
      requestsPerMinute: LIMITS.requestsPerWindow,
      minuteMs: LIMITS.windowMs,
    });
    const running = BatchServing.start(serving, { name: 'embed', ...options });
    const texts = Array.from({ length: 2000 }, (_, i) => textOf(i));
    const vectors = await Promise.all(texts.map((text) => running.dispatch(text)));

    expect(vectors).toEqual(texts.map((text) => embeddingOf(text)));
    const { counts } = provider;
    const tokens = texts.reduce((sum, t) => sum + Math.ceil(t.length / 4), 0);
    expect(tokens).toBeGreaterThan(2 * LIMITS.tokensPerWindow); // the quota had to bind
    expect(counts.tooLarge).toBe(0);
    expect(counts.largestRequestTokens).toBeLessThanOrEqual(LIMITS.maxTokensPerRequest);
    expect(counts.rateLimited).toBeLessThanOrEqual(1);
    expect(counts.tokens).toBe(tokens);
    expect(running.stats()).toMatchObject({ values: 2000, failures: counts.rateLimited });
    await running.close('drain', 1000);
  }, 30_000);
});
