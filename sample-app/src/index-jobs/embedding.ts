import { setTimeout as sleep } from 'node:timers/promises';

/*
 * The "model" of the indexing pipeline. No model weights can be downloaded on the machines this
 * app is built and tested on (they reach package registries only), so the embedding is a
 * deterministic in-process function: the hashing trick, each word hashed into one of 32
 * dimensions with a sign, then the vector scaled to length 1. The same text always gives the same
 * vector and texts sharing words point the same way; it captures no meaning.
 *
 * What is modelled faithfully is what batching changes: the cost of a call. A call to an embedding
 * model pays a fixed part (the round trip, moving the batch onto the accelerator, launching the
 * kernels) and a part per token. The fixed part is paid once per batch, whatever its size.
 */

/** Length of every vector. */
export const EMBEDDING_DIMENSIONS = 32;

/** The cost model of one call: its time, and the price of the accelerator while it runs. */
export const MODEL_COST = Object.freeze({
  /** Fixed time of one call, whatever its size. */
  callMs: 40,
  /** Time per token. */
  tokenMs: 0.05,
  /** Price of the accelerator: $2.50 an hour, billed for the time the call holds it. */
  usdPerHour: 2.5,
});

/** Tokens of a text, counted as words (at least 1): what both the time and the price go by. */
export function tokensOf(text: string): number {
  return Math.max(1, text.split(/\s+/).filter(Boolean).length);
}

/** Time one call over `tokens` tokens holds the accelerator. */
export function modelTimeMs(tokens: number): number {
  return MODEL_COST.callMs + MODEL_COST.tokenMs * tokens;
}

/** Price of one call over `tokens` tokens, in US dollars. */
export function modelCostUsd(tokens: number): number {
  return (modelTimeMs(tokens) / 3_600_000) * MODEL_COST.usdPerHour;
}

/**
 * Waits as long as the call would take. A timer and not a busy loop: the model runs on an
 * accelerator (or in a worker), and the event loop stays free meanwhile, as it would in production.
 */
export function runModel(tokens: number, signal: AbortSignal): Promise<void> {
  return sleep(modelTimeMs(tokens), undefined, { signal });
}

/** The vector of a text: the same text, the same vector, on every machine. */
export function embed(text: string): number[] {
  const vector = new Array<number>(EMBEDDING_DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const hash = fnv1a(word);
    // Low bits pick the dimension, the top bit the sign, so that collisions tend to cancel out.
    vector[hash % EMBEDDING_DIMENSIONS] += hash >>> 31 ? -1 : 1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((v) => v / norm);
}

/** 32-bit FNV-1a: small, fast and the same everywhere, which is all a bucket index needs. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}
