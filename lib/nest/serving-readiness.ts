import { Injectable } from '@nestjs/common';

/**
 * Opens once the module's servings have started. A dispatch that comes earlier (from a
 * constructor, or another module's onModuleInit) waits for it instead of failing; if the
 * application closes, or init fails, before it opens, the waiting dispatches fail with that error.
 */
@Injectable()
export class ServingReadiness {
  /** Once true, dispatches go straight to their serving, without a promise hop. */
  isOpen = false;
  private settled = false;
  private resolve!: () => void;
  private reject!: (error: unknown) => void;
  private readonly ready = new Promise<void>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });

  constructor() {
    // Failing with nobody waiting is normal (an app closed before init): not an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  wait(): Promise<void> {
    return this.ready;
  }

  open(): void {
    if (this.settled) return;
    this.settled = this.isOpen = true;
    this.resolve();
  }

  /** Fails the waiting dispatches; a no-op once open. */
  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }
}
