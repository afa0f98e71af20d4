/** Finds and reads foobar.yaml; the model's only contact with the file system. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { buildModel, ConfigError } from './build.ts';
import type { Model } from './model.ts';

export const CONFIG_FILE = 'foobar.yaml';

/**
 * The config path, in order: an explicit path (--config), $FOOBAR_CONFIG, ./foobar.yaml if it
 * exists. Without any, the defaults alone make the model.
 */
export function configPath(explicit: string | undefined, cwd = process.cwd()): string | undefined {
  const chosen = explicit ?? process.env.FOOBAR_CONFIG;
  if (chosen !== undefined && chosen !== '') return path.resolve(cwd, chosen);
  const local = path.join(cwd, CONFIG_FILE);
  try {
    readFileSync(local);
    return local;
  } catch {
    return undefined;
  }
}

export function parseConfigText(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: '', message: e.message.split('\n')[0] ?? e.message })),
    );
  }
  return doc.toJS() as unknown;
}

export function loadModel(file: string | undefined): Model {
  if (file === undefined) return buildModel(undefined);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return buildModel(parseConfigText(text, file), file);
}
