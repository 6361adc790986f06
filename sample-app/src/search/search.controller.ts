import { Controller, Get, Query } from '@nestjs/common';
import { BatchServingClient } from 'nestjs-batch-serving';
import { EMBED } from '../index-jobs/embed.serving';
import { parseSearchQuery } from './search.query';
import { SearchStore, type SearchHit } from './search.store';

/** Interactive queries outrank indexing: they take the next batch ahead of a backfill's documents. */
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
    const vector = await this.client.dispatch<Float32Array>(EMBED.name, query.q, { priority: SEARCH_PRIORITY });
    return { results: this.store.nearest(vector, query.k) };
  }
}
