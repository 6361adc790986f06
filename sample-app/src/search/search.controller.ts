import { Controller, Get, Query } from '@nestjs/common';
import { BatchServingClient } from 'nestjs-batch-serving';
import { EMBED, SEARCH_PRIORITY } from '../index-jobs/embed.serving';
import { asQuery } from '../index-jobs/text-length';
import { parseSearchQuery } from './search.query';
import { SearchStore, type SearchHit } from './search.store';

@Controller('search')
export class SearchController {
  constructor(
    private readonly client: BatchServingClient,
    private readonly store: SearchStore,
  ) {}

  /**
   * GET /search?q=…&k=… → { results: [{ id, text, score }] }, best first. The query is embedded by
   * the same `embed` serving (and the same model threads) as indexing, at a higher priority: its
   * batch holds queries only (batch key `query`) and may use the partition the serving keeps for
   * that priority, so it starts at once while indexing jobs keep the other two busy.
   */
  @Get()
  async search(@Query('q') q: unknown, @Query('k') k: unknown): Promise<{ results: SearchHit[] }> {
    const query = parseSearchQuery(q, k);
    const vector = await this.client.dispatch<Float32Array>(EMBED.name, asQuery(query.q), { priority: SEARCH_PRIORITY });
    return { results: this.store.nearest(vector, query.k) };
  }
}
