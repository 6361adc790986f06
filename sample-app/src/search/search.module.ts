import { Module } from '@nestjs/common';
import { SearchController } from './search.controller';
import { SearchStore } from './search.store';

/** GET /search over the documents that indexing jobs stored. */
@Module({
  controllers: [SearchController],
  providers: [SearchStore],
  exports: [SearchStore],
})
export class SearchModule {}
