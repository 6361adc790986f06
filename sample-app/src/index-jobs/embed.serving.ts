import { Serving, type BatchCaller, type BatchContext, type ServingHandler } from 'nestjs-batch-serving';
import { embed, modelCostUsd, runModel, tokensOf } from './embedding';

/** The dispatch `context` of an indexing job: ctx.callers hands it back, so each caller's events can name whose they are. */
export interface IndexingCaller {
  userId: string;
  jobId: string;
  /** performance.now() when the job was submitted. */
  submittedAt: number;
}

/** `progress` hook: one entry per document of the batch; each caller receives the entries of its own. */
export interface DocumentProgress {
  tokens: number;
}

/** `latency` hook, per caller: how long its documents waited and how long the batch ran. */
export interface BatchLatency {
  userId: string;
  jobId: string;
  /** From the job's submission to the start of this batch. */
  queuedMs: number;
  runMs: number;
  /** Documents in the batch, all callers together. */
  batchSize: number;
  /** Jobs whose documents shared this batch. */
  callers: number;
}

/** `cost` hook, per caller: its share of what the batch cost, by tokens, and what it would have cost alone. */
export interface BatchCost {
  userId: string;
  jobId: string;
  tokens: number;
  batchTokens: number;
  batchUsd: number;
  shareUsd: number;
  aloneUsd: number;
}

/**
 * The embedding step of the indexing pipeline. Documents of every job submitted within 25 ms
 * (or 16 of them) run as one call to the model, which pays the call's fixed cost once; each job
 * is billed its share by tokens. The per-caller hooks use ctx.callers and the context each job
 * dispatched with, so a user never sees another user's documents, progress or cost.
 */
@Serving({ name: 'embed', batchSize: 16, batchTimeout: 25, maxBatchCost: 4096, hooks: ['progress', 'latency', 'cost'] })
export class EmbedServing implements ServingHandler<string, number[]> {
  /** A batch closes before the document that would take it over 4096 tokens, what one model call takes. */
  cost(text: string): number {
    return tokensOf(text);
  }

  validate(text: string): void {
    if (typeof text !== 'string' || text.trim() === '') throw new TypeError('a document must be a non-empty string');
  }

  async handleBatch(texts: string[], ctx: BatchContext): Promise<number[][]> {
    const startedAt = performance.now();
    const tokens = texts.map(tokensOf);
    const batchTokens = sum(tokens);
    await runModel(batchTokens, ctx.signal);
    const vectors = texts.map(embed);
    const runMs = performance.now() - startedAt;
    const batchUsd = modelCostUsd(batchTokens);

    // An array: sliced per caller, so each job counts exactly its own documents as done.
    ctx.emit('progress', tokens.map((t): DocumentProgress => ({ tokens: t })));
    // Functions: called once per caller, with its slice of the batch and its own context.
    ctx.emit('latency', (caller): BatchLatency => {
      const { userId, jobId, submittedAt } = contextOf(caller);
      return { userId, jobId, queuedMs: startedAt - submittedAt, runMs, batchSize: ctx.size, callers: ctx.callers.length };
    });
    ctx.emit('cost', (caller): BatchCost => {
      const { userId, jobId } = contextOf(caller);
      const own = sum(tokens.slice(caller.offset, caller.offset + caller.size));
      return { userId, jobId, tokens: own, batchTokens, batchUsd, shareUsd: (batchUsd * own) / batchTokens, aloneUsd: modelCostUsd(own) };
    });
    return vectors;
  }
}

/** A caller without a job context (a plain dispatch to 'embed') is attributed to nobody, not refused. */
function contextOf(caller: BatchCaller): IndexingCaller {
  const context = caller.context as Partial<IndexingCaller> | undefined;
  return { userId: context?.userId ?? 'anonymous', jobId: context?.jobId ?? 'none', submittedAt: context?.submittedAt ?? performance.now() };
}

function sum(values: readonly number[]): number {
  return values.reduce((total, v) => total + v, 0);
}
