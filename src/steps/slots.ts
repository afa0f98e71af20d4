/**
 * The app runs in one of two slots on each web server, blue or green, each on its own loopback
 * port. A deploy starts the new release in the idle slot, checks it, then points Nginx at it: the
 * old process keeps serving until Nginx's old workers are done with it.
 */
import path from 'node:path';
import { hostPaths } from '../model/layout.ts';
import type { Model } from '../model/model.ts';
import type { Context } from './context.ts';

export const SLOTS = ['blue', 'green'] as const;
export type Slot = (typeof SLOTS)[number];

export function slotPort(model: Model, slot: Slot): number {
  return slot === 'blue' ? model.ports.app : model.ports.appGreen;
}

export function otherSlot(slot: Slot): Slot {
  return slot === 'blue' ? 'green' : 'blue';
}

function slotFile(ctx: Context, host: string): string {
  return path.join(hostPaths(ctx.model, host).etc, 'live-slot');
}

/** The slot Nginx sends requests to; blue on a server that never had a deploy. */
export async function liveSlot(ctx: Context, host: string): Promise<Slot> {
  const text = (await ctx.driver.readFile(host, slotFile(ctx, host)))?.trim();
  return text === 'green' ? 'green' : 'blue';
}

export async function setLiveSlot(ctx: Context, host: string, slot: Slot): Promise<void> {
  await ctx.driver.writeFile(host, slotFile(ctx, host), `${slot}\n`);
}
