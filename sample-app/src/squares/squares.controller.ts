import { BadRequestException, Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { InjectServing, type ServingRef } from 'nestjs-batch-serving';
import { switchQuery } from '../switch-query';
import { SQUARES } from './squares.serving';

/**
 * Each request is one independent caller; requests that arrive within 100 ms of each other share
 * one execution of the serving. A refused input is answered 400 by BatchServingExceptionFilter.
 */
@Controller('squares')
export class SquaresController {
  // `unknown` in: what the network sends is checked by the serving's validate(), not trusted here.
  constructor(@InjectServing(SQUARES.name) private readonly squares: ServingRef<unknown, number>) {}

  /**
   * GET /squares/3 → { n: 3, square: 9 }. With `?distributed=on` (and NATS_URL), any process of
   * the fleet may compute it, this one included; otherwise this one does.
   */
  @Get(':n')
  async one(@Param('n') n: string, @Query('distributed') distributed?: string): Promise<{ n: unknown; square: number }> {
    const value = numberOrRaw(n);
    return { n: value, square: await this.squares.dispatch(value, { distributed: switchQuery('distributed', distributed, false) }) };
  }

  /** POST /squares [1, 2, 3] → { squares: [1, 4, 9] }: one caller, many values. */
  @Post()
  async many(@Body() values: unknown): Promise<{ squares: number[] }> {
    if (!Array.isArray(values)) throw new BadRequestException('the body must be a JSON array of numbers');
    return { squares: await this.squares.dispatchMany(values) };
  }
}

/** "3" becomes 3; anything that is not a number is passed on as it came, for validate() to refuse. */
function numberOrRaw(text: string): unknown {
  const value = Number(text);
  return text.trim() !== '' && Number.isFinite(value) ? value : text;
}
