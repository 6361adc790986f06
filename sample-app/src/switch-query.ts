import { BadRequestException } from '@nestjs/common';
import { switchValue } from './config';

/** A query parameter that is on or off (`?batching=off`); anything else is a 400 that says what it takes. */
export function switchQuery(name: string, value: string | undefined, fallback: boolean): boolean {
  try {
    return switchValue(name, value, fallback);
  } catch (error) {
    throw new BadRequestException((error as Error).message);
  }
}
