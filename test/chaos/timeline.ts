/** Progress for the operator: one line per step on stderr (stdout carries the result table). */
export function progress(message: string): void {
  process.stderr.write(`chaos: ${message}\n`);
}

export interface TimelineEntry {
  /** Milliseconds since the load started (negative: during set-up). */
  readonly atMs: number;
  readonly event: string;
  readonly detail?: string;
}

/**
 * What happened when, relative to the start of the load: faults injected and restored, unplanned exits,
 * phases. It goes into the result file, so a failed invariant can be read against the faults around it.
 */
export class Timeline {
  readonly entries: TimelineEntry[] = [];
  private t0 = Date.now();

  /** From now on, times count from here (the load's start). */
  startClock(): void {
    this.t0 = Date.now();
  }

  /** The clock's origin, ms since the epoch. */
  get origin(): number {
    return this.t0;
  }

  get elapsedMs(): number {
    return Date.now() - this.t0;
  }

  note(event: string, detail?: string): void {
    const atMs = this.elapsedMs;
    this.entries.push(detail === undefined ? { atMs, event } : { atMs, event, detail });
    progress(`[${(atMs / 1000).toFixed(1).padStart(6)} s] ${event}${detail ? ` (${detail})` : ""}`);
  }
}
