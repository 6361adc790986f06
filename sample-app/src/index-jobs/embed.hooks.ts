/** The dispatch `context` of an indexing job: ctx.callers hands it back, so each caller's events can name whose they are. */
export interface IndexingCaller {
  userId: string;
  jobId: string;
  /** Date.now() when the job was submitted (a wall clock: the batch runs on another thread). */
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
  /** The length bucket of the batch: short, medium or long. */
  batchKey: string;
}

/** `cost` hook, per caller: its share, by tokens, of what the batch's CPU time cost. */
export interface BatchCost {
  userId: string;
  jobId: string;
  tokens: number;
  batchTokens: number;
  batchUsd: number;
  shareUsd: number;
}

/** The hooks the embed serving declares. */
export const EMBED_HOOKS = ['progress', 'latency', 'cost'] as const;
