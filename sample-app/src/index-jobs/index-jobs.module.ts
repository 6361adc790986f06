import { Module } from '@nestjs/common';
import { EmbedServing } from './embed.serving';
import { IndexJobsController } from './index-jobs.controller';
import { IndexJobsService } from './index-jobs.service';

@Module({
  controllers: [IndexJobsController],
  providers: [EmbedServing, IndexJobsService],
})
export class IndexJobsModule {}
