import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * A local OpenAI-compatible embeddings endpoint (POST /v1/embeddings) for specs and benchmarks.
 * It enforces what a provider enforces: a per-request token cap (413) and per-window token and
 * request quotas (429 with retry-after-ms and retry-after), counted over a sliding window of the
 * requests it accepted. It is written apart from the library's own rate limiter on purpose: the
 * two must agree by behaviour, not by sharing code.
 */

export interface ProviderLimits {
  /** Most tokens in one request; more is a 413. */
  maxTokensPerRequest: number;
  /** Most tokens accepted per `windowMs`; more is a 429. */
  tokensPerWindow: number;
  /** Most requests accepted per `windowMs`; more is a 429. Default: no limit. */
  requestsPerWindow?: number;
  /** The quota's window: 60 000 for a real provider's minute; shorter in tests. */
  windowMs: number;
  /** Time an accepted request takes, as a model would. Default 5 ms. */
  latencyMs?: number;
  /** Length of each embedding. Default 8. */
  dimensions?: number;
}

/** What the provider saw: requests by answer, and the largest it accepted. */
export interface ProviderCounts {
  requests: number;
  ok: number;
  tooLarge: number;
  rateLimited: number;
  /** Tokens of the accepted requests. */
  tokens: number;
  inputs: number;
  largestRequestTokens: number;
  /** Most tokens and requests the provider ever held in one window: never above the quota. */
  peakWindowTokens: number;
  peakWindowRequests: number;
}

export interface EmbeddingsProvider {
  /** Base URL, e.g. `http://127.0.0.1:41234/v1`. */
  readonly url: string;
  readonly counts: ProviderCounts;
  close(): Promise<void>;
}

/** The provider's token count: about four characters a token, as OpenAI's rule of thumb has it. */
export function countTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** The embedding the provider gives `text`: derived from the text alone, so a caller can check it got its own. */
export function embeddingOf(text: string, dimensions = 8): number[] {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0;
  return Array.from({ length: dimensions }, (_, i) => ((hash >>> (i * 3)) & 0xff) / 255);
}

export async function startEmbeddingsProvider(limits: ProviderLimits): Promise<EmbeddingsProvider> {
  const counts: ProviderCounts = { requests: 0, ok: 0, tooLarge: 0, rateLimited: 0, tokens: 0, inputs: 0, largestRequestTokens: 0, peakWindowTokens: 0, peakWindowRequests: 0 };
  /** Accepted requests still in the window: when they arrived and their tokens. */
  let accepted: Array<{ at: number; tokens: number }> = [];

  /** 0 when a request of `tokens` fits the window now, else the ms until enough of the window has left. */
  const wait = (tokens: number, now: number): number => {
    accepted = accepted.filter((r) => r.at + limits.windowMs > now);
    const rpm = limits.requestsPerWindow ?? Infinity;
    let windowTokens = accepted.reduce((sum, r) => sum + r.tokens, 0);
    let leaving = 0;
    while (leaving < accepted.length && (windowTokens + tokens > limits.tokensPerWindow || accepted.length - leaving + 1 > rpm)) {
      windowTokens -= accepted[leaving++].tokens;
    }
    return leaving === 0 ? 0 : accepted[leaving - 1].at + limits.windowMs - now;
  };

  const answer = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/v1/embeddings') return answer(res, 404, { error: { message: 'not found', type: 'invalid_request_error' } });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: { input?: unknown; model?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return answer(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
    }
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((t) => typeof t === 'string')) {
      return answer(res, 400, { error: { message: "'input' must be a string or a non-empty array of strings", type: 'invalid_request_error' } });
    }
    counts.requests++;
    const tokens = inputs.reduce((sum: number, t: string) => sum + countTokens(t), 0);
    if (tokens > limits.maxTokensPerRequest) {
      counts.tooLarge++;
      return answer(res, 413, { error: { message: `This request has ${tokens} tokens; the limit is ${limits.maxTokensPerRequest} per request.`, type: 'invalid_request_error', code: 'request_too_large' } });
    }
    const now = performance.now();
    const ms = wait(tokens, now);
    if (ms > 0) {
      counts.rateLimited++;
      const retryMs = Math.ceil(ms);
      return answer(
        res,
        429,
        { error: { message: `Rate limit reached: try again in ${retryMs} ms.`, type: 'rate_limit_exceeded' } },
        { 'retry-after-ms': String(retryMs), 'retry-after': String(Math.ceil(retryMs / 1000)) },
      );
    }
    accepted.push({ at: now, tokens });
    counts.ok++;
    counts.tokens += tokens;
    counts.inputs += inputs.length;
    counts.largestRequestTokens = Math.max(counts.largestRequestTokens, tokens);
    counts.peakWindowTokens = Math.max(counts.peakWindowTokens, accepted.reduce((sum, r) => sum + r.tokens, 0));
    counts.peakWindowRequests = Math.max(counts.peakWindowRequests, accepted.length);
    await new Promise((resolve) => setTimeout(resolve, limits.latencyMs ?? 5));
    const dimensions = limits.dimensions ?? 8;
    answer(res, 200, {
      object: 'list',
      data: inputs.map((text: string, index: number) => ({ object: 'embedding', index, embedding: embeddingOf(text, dimensions) })),
      model: String(body.model ?? 'local-embedding'),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => answer(res, 500, { error: { message: String(error), type: 'server_error' } }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    counts,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
