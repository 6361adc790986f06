/*
 * How long a text is, in the model's terms, worked out in the caller: the batch key needs it
 * before a batch forms, and the tokenizer lives with the model in the worker threads.
 */

/** Estimated tokens of a text: its words and punctuation marks (at least 1). USE-lite's tokenizer gives about as many for plain English. */
export function tokensOf(text: string): number {
  return Math.max(1, text.match(/[\p{L}\p{N}']+|[^\s\p{L}\p{N}]/gu)?.length ?? 0);
}

/** Length buckets: a batch pads every text to its longest, so texts of one bucket batch together. */
export type LengthBucket = 'short' | 'medium' | 'long';

/** Most tokens of a short text, and of a medium one; longer is long. */
export const BUCKET_LIMITS = Object.freeze({ short: 10, medium: 24 });

export function lengthBucket(text: string): LengthBucket {
  const tokens = tokensOf(text);
  return tokens <= BUCKET_LIMITS.short ? 'short' : tokens <= BUCKET_LIMITS.medium ? 'medium' : 'long';
}

/**
 * What a text is embedded for. Embedding APIs take the same distinction (an input type of query or
 * document); here it only decides the batch: a search query is batched with other queries, never
 * made to wait while a batch of an indexing job's documents computes with it.
 */
export type EmbedPurpose = 'query' | 'document';

/** One value of the embed serving. */
export interface EmbedText {
  text: string;
  purpose: EmbedPurpose;
}

export const asDocument = (text: string): EmbedText => ({ text, purpose: 'document' });
export const asQuery = (text: string): EmbedText => ({ text, purpose: 'query' });

/** The batch key: `query` for search queries (few, and wanted now), else the document's length bucket. */
export function embedBatchKey(value: EmbedText): 'query' | LengthBucket {
  return value.purpose === 'query' ? 'query' : lengthBucket(value.text);
}
