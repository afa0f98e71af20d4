/** The models of the files in examples/, for tests: the configurations users start from. */
import { readFileSync } from 'node:fs';
import { buildModel } from './build.ts';
import { parseConfigText } from './load.ts';
import type { Model } from './model.ts';

export function exampleModel(name: 'foobar' | 'machines'): Model {
  const file = `examples/${name}.yaml`;
  const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
  return buildModel(parseConfigText(text, file));
}
