import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { EventsModule } from '../events/events.module';
import { HealthController } from './health.controller';
import { ServingsHealthIndicator } from './servings.health';
import { SqliteHealthIndicator } from './sqlite.health';

@Module({
  imports: [TerminusModule, EventsModule],
  controllers: [HealthController],
  providers: [ServingsHealthIndicator, SqliteHealthIndicator],
})
export class HealthModule {}
