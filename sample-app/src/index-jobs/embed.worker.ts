import type { EmbeddingsModel } from '@energetic-ai/embeddings';
import type { BatchCaller, BatchContext } from 'nestjs-batch-serving';
import type { BatchCost, BatchLatency, DocumentProgress, IndexingCaller } from './embed.hooks';
import { tokensOf, type EmbedText } from './text-length';
import { embedTexts, loadModel } from './use-lite';

/*
 * The module each partition thread of the `embed` serving runs. The model is loaded once per
 * thread, in init, before the thread's first batch; a batch then blocks only its own thread.
 */

/** What a CPU core costs an hour, in US dollars: a batch is billed the time it held one. */
export const CPU_USD_PER_HOUR = 0.05;

let model: EmbeddingsModel | undefined;

export async function init(): Promise<void> {
  model = await loadModel();
}

export async function handleBatch(values: EmbedText[], ctx: BatchContext): Promise<Float32Array[]> {
  const texts = values.map((value) => value.text);
  const startedAt = Date.now();
  const vectors = await embedTexts(model!, texts);
  const runMs = Date.now() - startedAt;
  const tokens = texts.map(tokensOf);
  const batchTokens = sum(tokens);
  const batchUsd = (runMs / 3_600_000) * CPU_USD_PER_HOUR;

  // An array: sliced per caller, so each job counts exactly its own documents as done.
  ctx.emit('progress', tokens.map((t): DocumentProgress => ({ tokens: t })));
  // Functions: called once per caller (here, in the thread), with its slice and its own context.
  ctx.emit('latency', (caller): BatchLatency => {
    const { userId, jobId, submittedAt } = contextOf(caller);
    return { userId, jobId, queuedMs: startedAt - submittedAt, runMs, batchSize: ctx.size, callers: ctx.callers.length, batchKey: ctx.batchKey };
  });
  ctx.emit('cost', (caller): BatchCost => {
    const { userId, jobId } = contextOf(caller);
    const own = sum(tokens.slice(caller.offset, caller.offset + caller.size));
    return { userId, jobId, tokens: own, batchTokens, batchUsd, shareUsd: (batchUsd * own) / batchTokens };
  });
  return vectors;
}

/** A caller without a job context (a search query, a plain dispatch) is attributed to nobody, not refused. */
function contextOf(caller: BatchCaller): IndexingCaller {
  const context = caller.context as Partial<IndexingCaller> | undefined;
  return { userId: context?.userId ?? 'anonymous', jobId: context?.jobId ?? 'none', submittedAt: context?.submittedAt ?? Date.now() };
}

function sum(values: readonly number[]): number {
  return values.reduce((total, v) => total + v, 0);
}
