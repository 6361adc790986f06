import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { ServingsHealthIndicator } from './servings.health';
import { SqliteHealthIndicator } from './sqlite.health';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly servings: ServingsHealthIndicator,
    private readonly sqlite: SqliteHealthIndicator,
  ) {}

  /** GET /health: 200 with each serving's state and the database's, or 503 when one is down. */
  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.servings.check('servings'), () => this.sqlite.check('sqlite')]);
  }
}
