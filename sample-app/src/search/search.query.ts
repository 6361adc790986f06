import { BadRequestException } from '@nestjs/common';

/** A parsed GET /search query. */
export interface SearchQuery {
  q: string;
  k: number;
}

export const DEFAULT_K = 5;
const MAX_K = 50;
const MAX_QUERY = 1000;

/** `q` a non-empty text of at most 1000 characters; `k` a whole number from 1 to 50, default 5. */
export function parseSearchQuery(q: unknown, k: unknown): SearchQuery {
  if (typeof q !== 'string' || q.trim() === '' || q.length > MAX_QUERY) {
    throw new BadRequestException(`q must be a text of 1 to ${MAX_QUERY} characters: GET /search?q=cats+asleep+in+the+sun`);
  }
  if (k === undefined || k === '') return { q, k: DEFAULT_K };
  const parsed = Number(k);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > MAX_K) throw new BadRequestException(`k must be a whole number from 1 to ${MAX_K}, got '${String(k)}'`);
  return { q, k: parsed };
}
