import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The sample corpus: 230 short texts written for this app, ten on each of 23 topics (cats, dogs,
 * cooking, markets, football, space, databases, …), one per line. src/ and dist/ sit side by side,
 * so the path is the same from the sources and from the build.
 */
export const CORPUS_FILE = join(__dirname, '..', '..', 'corpus', 'documents.txt');

export function readCorpus(file = CORPUS_FILE): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}
