import { BatchTooLargeError, RetryableError } from './errors';
import { MAX_TIMER_MS } from './clock';
import type { RetryDecision, RetryOptions } from './options';
import type { BatchContext } from './types';

/** What the batcher does with a failed batch. */
export type RetryAction =
  /** Run the same values again in `delayMs`; `pause`: start no batch of the serving until then. */
  | { kind: 'retry'; delayMs: number; pause: boolean }
  /** Halve the batch and run each half again, as the same attempt. */
  | { kind: 'split' }
  /** Fail the callers; `exhausted` when the decision was a retry but no attempt was left. */
  | { kind: 'fail'; exhausted: boolean };

export const DEFAULT_BACKOFF = Object.freeze({ initial: 100, max: 10_000, factor: 2 });

const FAIL: RetryAction = Object.freeze({ kind: 'fail', exhausted: false });
const SPLIT: RetryAction = Object.freeze({ kind: 'split' });

/**
 * `retry` of ServingOptions: turns an error into what happens next. `classify` speaks first, for
 * errors of a provider's SDK; what it leaves undecided goes by the error's class. A split happens
 * with or without `retry`; running the same values again, only with it.
 */
export class RetryPolicy {
  private readonly attempts: number;
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;

  constructor(
    private readonly options: RetryOptions | undefined,
    private readonly random: () => number = Math.random,
  ) {
    this.attempts = options?.attempts ?? 1;
    const backoff = options?.backoff ?? DEFAULT_BACKOFF;
    this.initial = backoff.initial;
    this.max = backoff.max;
    this.factor = backoff.factor ?? DEFAULT_BACKOFF.factor;
  }

  /** What to do after the execution `ctx.attempt` of a batch failed with `error`. */
  decide(error: unknown, ctx: BatchContext): RetryAction {
    const decision = this.classify(error, ctx);
    if (decision === 'split') return SPLIT;
    if (decision === 'fail' || !this.options) return FAIL;
    if (ctx.attempt >= this.attempts) return { kind: 'fail', exhausted: this.attempts > 1 };
    if (decision === 'retry') return { kind: 'retry', delayMs: this.backoff(ctx.attempt), pause: false };
    return { kind: 'retry', delayMs: Math.min(decision.retryAfterMs, MAX_TIMER_MS), pause: true };
  }

  /** Full jitter: anywhere from 0 to the capped exponential, so that retries of many batches spread out. */
  backoff(attempt: number): number {
    const cap = Math.min(this.max, this.initial * this.factor ** (attempt - 1));
    return this.random() * cap;
  }

  private classify(error: unknown, ctx: BatchContext): RetryDecision {
    const classify = this.options?.classify;
    if (classify) {
      let decision: unknown;
      try {
        decision = classify(error, ctx);
      } catch {
        // A classifier that breaks must not turn a failure into a hang: the batch fails with its own error.
        return 'fail';
      }
      const valid = checkDecision(decision);
      if (valid) return valid;
    }
    if (error instanceof BatchTooLargeError) return 'split';
    if (error instanceof RetryableError) return isWait(error.retryAfterMs) ? { retryAfterMs: error.retryAfterMs } : 'retry';
    return 'fail';
  }
}

const isWait = (ms: unknown): ms is number => typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;

/** A decision classify may give; anything else (undefined included) leaves it to the error's class. */
function checkDecision(decision: unknown): RetryDecision | undefined {
  if (decision === 'retry' || decision === 'split' || decision === 'fail') return decision;
  if (typeof decision === 'object' && decision !== null) {
    const ms = (decision as { retryAfterMs?: unknown }).retryAfterMs;
    // A bad header (NaN, negative) is still a request to retry: with the backoff.
    return isWait(ms) ? { retryAfterMs: ms } : 'retry';
  }
  return undefined;
}
