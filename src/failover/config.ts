/**
 * The failover manager's config file: its host and the foobar.yaml `up` built its model from
 * (`model.given`), so the manager validates it like any config and runs on exactly the model
 * `up` had, on either platform.
 */
import { buildModel } from '../model/build.ts';
import type { Model } from '../model/model.ts';

export function renderManagerConfig(host: string, model: Model): string {
  return `${JSON.stringify({ host, config: model.given }, null, 2)}\n`;
}

export function parseManagerConfig(text: string, source: string): { host: string; model: Model } {
  const data: unknown = JSON.parse(text);
  if (
    typeof data !== 'object' ||
    data === null ||
    !('host' in data) ||
    typeof data.host !== 'string' ||
    !('config' in data)
  )
    throw new Error(`${source}: expected {"host": NAME, "config": {...}}`);
  return { host: data.host, model: buildModel(data.config, source) };
}
