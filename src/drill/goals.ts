/** What the lab promises for each kind of fault, and which promise a drill's row missed. */
import { IDEMPOTENT_KINDS } from '../load/visits.ts';
import type { KindFigures, WriteCount } from './measure.ts';

/**
 * - `idempotent`: load balancer and web server faults cost no page, static file or read, but
 *   those in flight on a connection the fault cut (see `cutInFlight`).
 * - `writes`: database faults: writes back within `WRITES_BACK_MS`, no acknowledged write lost.
 * - `resolution`: a DNS server's fault breaks no name lookup.
 * - `unaffected`: the site does not notice (the monitor's faults): nothing fails at all.
 */
export type Goal = 'idempotent' | 'writes' | 'resolution' | 'unaffected';

export const WRITES_BACK_MS = 3000;

export const GOAL_TEXT: Readonly<Record<Goal, string>> = {
  idempotent: '0 failed idempotent requests but those in flight on a connection the fault cut',
  writes: `writes back within ${WRITES_BACK_MS / 1000} s, 0 acknowledged writes lost`,
  resolution: 'name resolution unbroken',
  unaffected: 'the site unaffected',
};

export interface RowFigures {
  readonly kinds: readonly KindFigures[];
  readonly writePauseMs: number;
  readonly lookupFailures: number;
  readonly writes: WriteCount;
}

function failedOf(kinds: readonly KindFigures[], which: (k: KindFigures) => boolean): string[] {
  return kinds.filter((k) => which(k) && k.failed > 0).map((k) => `${k.failed} ${k.kind}`);
}

/** The goals a row missed, each saying what happened; empty when it passed. */
export function missedGoals(goal: Goal, figures: RowFigures): string[] {
  const missed: string[] = [];
  switch (goal) {
    case 'idempotent': {
      const failed = figures.kinds
        .filter((k) => IDEMPOTENT_KINDS.includes(k.kind) && k.failed > k.cutInFlight)
        .map((k) => `${k.failed - k.cutInFlight} ${k.kind}`);
      if (failed.length > 0) missed.push(`${failed.join(', ')} requests failed`);
      break;
    }
    case 'writes':
      if (figures.writePauseMs > WRITES_BACK_MS)
        missed.push(`writes were gone for ${(figures.writePauseMs / 1000).toFixed(1)} s`);
      if (figures.writes.lost > 0) missed.push(`${figures.writes.lost} acknowledged writes lost`);
      break;
    case 'resolution':
      if (figures.lookupFailures > 0) missed.push(`${figures.lookupFailures} name lookups failed`);
      break;
    case 'unaffected': {
      const failed = failedOf(figures.kinds, () => true);
      if (failed.length > 0) missed.push(`${failed.join(', ')} requests failed`);
      break;
    }
  }
  const described = missed.map((m) => `${m} (goal: ${GOAL_TEXT[goal]})`);
  // Whatever the fault, a write is never stored twice.
  if (figures.writes.duplicated > 0)
    described.push(`${figures.writes.duplicated} writes stored twice (goal: none stored twice)`);
  return described;
}
