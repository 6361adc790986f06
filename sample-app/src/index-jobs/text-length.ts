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
