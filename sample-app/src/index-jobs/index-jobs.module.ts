import { Module } from '@nestjs/common';
import { SearchModule } from '../search/search.module';
import { IndexJobsController } from './index-jobs.controller';
import { IndexJobsService } from './index-jobs.service';

/** POST /index-jobs: documents embedded by the `embed` serving (declared in AppModule's forRoot) and stored for search. */
@Module({
  imports: [SearchModule],
  controllers: [IndexJobsController],
  providers: [IndexJobsService],
})
export class IndexJobsModule {}
