import { BatchServing } from 'nestjs-batch-serving';
import { join } from 'node:path';
import { EMBED_HOOKS } from './embed.hooks';
import { embedBatchKey, tokensOf, type EmbedText } from './text-length';

/*
 * Built, the app points at the compiled worker next to this file (dist/index-jobs/embed.worker.js).
 * Run from its TypeScript sources (Jest, the specs), it points at embed.worker.ts and gives each
 * thread a TypeScript loader: a worker thread loads files with Node's own loader.
 */
const fromSources = __filename.endsWith('.ts');
const WORKER_FILE = join(__dirname, fromSources ? 'embed.worker.ts' : 'embed.worker.js');
const WORKER_EXEC_ARGV = fromSources ? ['--require', require.resolve('@swc-node/register')] : undefined;

/**
 * The embedding step of the indexing pipeline and of search: USE-lite on worker threads, one per
 * partition. Documents are batched by length bucket, because a batch pads every text to its
 * longest: mixing lengths gives back what batching gains. Search queries have a batch key of their
 * own: dispatched at a higher priority, their batch starts on the next free partition, holding
 * queries only, so that a query never computes alongside 15 of a backfill's documents.
 */
export const embed = BatchServing.worker<EmbedText, Float32Array>(WORKER_FILE, { execArgv: WORKER_EXEC_ARGV })
  .validate((value: unknown) => {
    const { text, purpose } = (value ?? {}) as Partial<EmbedText>;
    if (typeof text !== 'string' || text.trim() === '') throw new TypeError("a text to embed must be { text: a non-empty string, purpose: 'query' | 'document' }");
    if (purpose !== 'query' && purpose !== 'document') throw new TypeError(`purpose must be 'query' or 'document', got ${JSON.stringify(purpose)}`);
  })
  .batchKey(embedBatchKey)
  // A batch costs its tokens: maxBatchCost bounds what one model call pads and computes.
  .cost((value) => tokensOf(value.text))
  .streaming({ hooks: EMBED_HOOKS });

/** The priority of search queries on the embed serving: above indexing's 0. */
export const SEARCH_PRIORITY = 10;

/**
 * Name and options of the embed serving. Three partitions (model threads) on the 2 cores it was
 * measured on: indexing may use two, one per core; the third is kept for search queries
 * (`reserve`), so that a search under an indexing job starts at once instead of waiting for a
 * running batch of documents to end (a running model call cannot be interrupted). The kept thread
 * holds its model (about 130 MB) and no CPU while no search runs.
 *
 * Batches of up to 16 texts of one batch key and at most 2048 tokens, formed within 25 ms; the
 * adaptive window closes a batch early when no more texts are expected soon, so that a lone search
 * query is not held for the 25 ms. A text of more than 2048 tokens is refused with INVALID_INPUT
 * (HTTP 400).
 */
export const EMBED = {
  name: 'embed',
  partitions: 3,
  reserve: { partitions: 1, priority: SEARCH_PRIORITY },
  batchSize: 16,
  batchTimeout: 25,
  window: 'adaptive',
  maxBatchCost: 2048,
} as const;
