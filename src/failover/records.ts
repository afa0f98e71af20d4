/** What the managers keep in etcd, parsed (a malformed value reads as absent, never as a cast). */
import { z } from 'zod';
import type { failoverKeys } from '../model/failover.ts';
import type { Etcd, KeyValue } from './etcd.ts';
import type { LastAutomatic, Observation, Pause } from './judge.ts';

export interface TopologyRecord {
  readonly epoch: number;
  readonly primary: string;
  /** Who wrote it: "automatic (lb-01)", "manual", "database.json". */
  readonly by: string;
}

const observation = z.object({
  manager: z.string(),
  primary: z.string(),
  epoch: z.number(),
  reachable: z.boolean(),
  failingForMs: z.number(),
  detail: z.string(),
  at: z.number(),
  webCutForMs: z.number().optional(),
  webDetail: z.string().optional(),
});
const pause = z.object({ by: z.string(), reason: z.string(), at: z.string() });
const lastAutomatic = z.object({
  at: z.number(),
  from: z.string(),
  to: z.string(),
  epoch: z.number(),
});
const topology = z.object({ epoch: z.number(), primary: z.string(), by: z.string() });

function parse<T>(schema: z.ZodType<T>, text: string): T | undefined {
  try {
    const result = schema.safeParse(JSON.parse(text));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

export const parseObservation = (text: string): Observation | undefined => parse(observation, text);
export const parsePause = (text: string): Pause | undefined => parse(pause, text);
export const parseLastAutomatic = (text: string): LastAutomatic | undefined =>
  parse(lastAutomatic, text);
export const parseTopology = (text: string): TopologyRecord | undefined => parse(topology, text);

const rearmed = z.object({ at: z.number(), by: z.string() });
export const parseRearmed = (text: string): { at: number; by: string } | undefined =>
  parse(rearmed, text);

/** Every record the managers keep in etcd, as one read found them. */
export interface FailoverRecords {
  readonly leader: KeyValue | undefined;
  readonly pause: KeyValue | undefined;
  readonly lastAutomatic: KeyValue | undefined;
  readonly topology: KeyValue | undefined;
  readonly rearmed: KeyValue | undefined;
  readonly observations: readonly KeyValue[];
}

/**
 * Every record at once: one linearizable read (a transaction of reads), not one per key. A
 * manager reads them every round, five times a second; the CLI through one process per read.
 */
export async function readFailoverRecords(
  etcd: Etcd,
  keys: ReturnType<typeof failoverKeys>,
): Promise<FailoverRecords> {
  const [leader, pause, lastAutomatic, topology, rearmed, observations] = await etcd.read([
    { key: keys.leader },
    { key: keys.pause },
    { key: keys.lastAutomatic },
    { key: keys.topology },
    { key: keys.rearmed },
    { prefix: keys.observations },
  ]);
  return {
    leader: leader?.[0],
    pause: pause?.[0],
    lastAutomatic: lastAutomatic?.[0],
    topology: topology?.[0],
    rearmed: rearmed?.[0],
    observations: observations ?? [],
  };
}
