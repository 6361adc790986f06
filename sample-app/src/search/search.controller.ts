import { Controller, Get, Query } from '@nestjs/common';
import { BatchServingClient } from 'nestjs-batch-serving';
import { EMBED } from '../index-jobs/embed.serving';
import { asQuery } from '../index-jobs/text-length';
import { parseSearchQuery } from './search.query';
import { SearchStore, type SearchHit } from './search.store';

/**
 * Interactive queries outrank indexing: when a partition frees, the batch of queries starts ahead of
 * the batches of a backfill's documents (its own batch key, `query`, keeps documents out of it).
 */
export const SEARCH_PRIORITY = 10;

@Controller('search')
export class SearchController {
  constructor(
    private readonly client: BatchServingClient,
    private readonly store: SearchStore,
  ) {}

  /**
   * GET /search?q=…&k=… → { results: [{ id, text, score }] }, best first. The query is embedded by
   * the same `embed` serving (and the same model threads) as indexing, at a higher priority.
   */
  @Get()
  async search(@Query('q') q: unknown, @Query('k') k: unknown): Promise<{ results: SearchHit[] }> {
    const query = parseSearchQuery(q, k);
    const vector = await this.client.dispatch<Float32Array>(EMBED.name, asQuery(query.q), { priority: SEARCH_PRIORITY });
    return { results: this.store.nearest(vector, query.k) };
  }
}
