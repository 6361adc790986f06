import { BatchServing, type RetryDecision, type ServingOptions } from 'nestjs-batch-serving';

/** An account with an OpenAI-compatible embeddings provider, and its limits. */
export interface EmbeddingsAccount {
  /** e.g. 'https://api.openai.com/v1' */
  baseUrl: string;
  apiKey?: string;
  model: string;
  /** Most tokens in one request (OpenAI: 300 000). */
  maxTokensPerRequest: number;
  /** The account's quotas per minute. */
  tokensPerMinute: number;
  requestsPerMinute: number;
  /** Length of the provider's minute: 60 000, less in a test. */
  minuteMs?: number;
}

/** About four characters a token; count with the provider's own tokenizer (tiktoken) to be exact. */
export const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

/** A refusal of the provider, with what `classify` needs: the status and the headers. */
export class ProviderError extends Error {
  constructor(
    readonly status: number,
    readonly headers: Headers,
    message: string,
  ) {
    super(`${status}: ${message}`);
  }
}

/** 429: wait as long as the provider says (retry-after-ms, then retry-after); 413: halve the batch; 5xx: back off. */
export function classifyProviderError(error: unknown): RetryDecision | undefined {
  if (!(error instanceof ProviderError)) return undefined;
  if (error.status === 429) {
    const ms = Number(error.headers.get('retry-after-ms') ?? Number.NaN);
    if (Number.isFinite(ms)) return { retryAfterMs: ms };
    const seconds = Number(error.headers.get('retry-after') ?? Number.NaN);
    return Number.isFinite(seconds) ? { retryAfterMs: seconds * 1000 } : 'retry';
  }
  if (error.status === 413) return 'split';
  return error.status >= 500 ? 'retry' : 'fail';
}

/** A serving that embeds texts with one request per batch, within the account's limits. */
export function openAiEmbeddings(account: EmbeddingsAccount): { serving: BatchServing<string, number[]>; options: Partial<ServingOptions> } {
  const serving = BatchServing.new(async (texts: string[], ctx) => {
    const response = await fetch(`${account.baseUrl}/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(account.apiKey ? { authorization: `Bearer ${account.apiKey}` } : {}) },
      body: JSON.stringify({ model: account.model, input: texts }),
      // Every caller of the batch gave up: stop paying for the request.
      signal: ctx.signal,
    });
    if (!response.ok) throw new ProviderError(response.status, response.headers, await response.text());
    const body = (await response.json()) as { data: Array<{ index: number; embedding: number[] }> };
    const vectors = new Array<number[]>(texts.length);
    for (const item of body.data) vectors[item.index] = item.embedding;
    return vectors;
  }).cost(estimateTokens);

  const options: Partial<ServingOptions> = {
    batchSize: 2048, // most inputs per request
    batchTimeout: 20,
    partitions: 4, // requests in flight at once
    maxBatchCost: account.maxTokensPerRequest,
    rateLimit: { per: account.minuteMs ?? 60_000, cost: account.tokensPerMinute, batches: account.requestsPerMinute },
    retry: { attempts: 5, classify: classifyProviderError },
  };
  return { serving, options };
}
