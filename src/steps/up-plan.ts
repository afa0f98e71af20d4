/**
 * `foobar up --plan`: `up`'s own steps run against the real hosts through a driver that records
 * every change instead of making it, so the plan is what `up` would do, not a second opinion.
 */
import { PlanningDriver, type PlannedChange } from '../drivers/planning.ts';
import type { Target } from '../drivers/driver.ts';
import { silentReporter, runPlan, type PlanReporter } from './plan.ts';
import { createContext, type Context } from './context.ts';
import { upPlan, type UpOptions } from './up.ts';

export interface UpChanges {
  /** False when there is nothing to compare with: `up` would build everything. */
  readonly exists: boolean;
  readonly changes: readonly PlannedChange[];
}

/** What `up` would change, read from the hosts of `ctx` (whose driver it wraps); changes nothing. */
export async function planUp(
  ctx: Context,
  options: UpOptions = {},
  reporter: PlanReporter = silentReporter,
): Promise<UpChanges> {
  if (!(await ctx.platform.built(ctx))) return { exists: false, changes: [] };
  const planning = new PlanningDriver(ctx.driver);
  const planned: Context = {
    ...createContext(ctx.model, planning, ctx.nodeBinary),
    planning,
  };
  await runPlan(
    upPlan(planned, options).filter((phase) => phase.verifies !== true),
    reporter,
  );
  return { exists: true, changes: planning.changes };
}

/** The changes per host, hosts in the order they first change. */
export function changesByHost(changes: readonly PlannedChange[]): Map<Target, PlannedChange[]> {
  const byHost = new Map<Target, PlannedChange[]>();
  for (const change of changes) {
    const list = byHost.get(change.target) ?? [];
    list.push(change);
    byHost.set(change.target, list);
  }
  return byHost;
}
