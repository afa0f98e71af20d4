/** Variants of the app, for deploy tests: a copy of app/ with a visible change, or a broken one. */
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const APP = path.resolve(import.meta.dirname, '../../app');

/** Every variant of this process lives under one directory, removed by removeAppVariants(). */
let parent: string | undefined;

export function removeAppVariants(): void {
  if (parent !== undefined) rmSync(parent, { recursive: true, force: true });
  parent = undefined;
}

export type Breakage =
  /** The process throws as it starts. */
  | 'crash-on-start'
  /** The process starts and never listens: alive, never ready. */
  | 'hang-on-start'
  /** Ready, and fine when asked directly, but /api/whoami fails behind Nginx on this server. */
  | { readonly failsBehindProxyOn: string };

/** `migration`: SQL for one more migration file (e.g. an index), added to the variant. */
export function appVariant(
  tag: string,
  breakage?: Breakage,
  migration?: { name: string; sql: string },
): string {
  parent ??= mkdtempSync(path.join(os.tmpdir(), 'foobar-apps-'));
  const dir = path.join(mkdtempSync(path.join(parent, `${tag}-`)), 'app');
  cpSync(APP, dir, { recursive: true, filter: (src) => !src.endsWith('.test.ts') });
  appendFileSync(path.join(dir, 'static', 'app.css'), `\n/* variant ${tag} */\n`);
  if (migration !== undefined)
    writeFileSync(path.join(dir, 'migrations', migration.name), migration.sql);
  if (breakage === 'crash-on-start' || breakage === 'hang-on-start') {
    const server = path.join(dir, 'src', 'server.ts');
    const text = readFileSync(server, 'utf8');
    if (!text.includes('await app.listen('))
      throw new Error('server.ts changed: update the breakage in test/support/apps.ts');
    const fault =
      breakage === 'crash-on-start'
        ? "throw new Error('broken on purpose');"
        : 'await new Promise(() => setInterval(() => undefined, 60_000));';
    writeFileSync(server, text.replace('await app.listen(', `${fault}\nawait app.listen(`));
  } else if (breakage !== undefined) {
    const source = path.join(dir, 'src', 'app.ts');
    const text = readFileSync(source, 'utf8');
    const anchor = "  app.get('/api/whoami',";
    if (!text.includes(anchor))
      throw new Error('app.ts changed: update the breakage in test/support/apps.ts');
    const fault = `  app.addHook('onRequest', (request, reply, done) => {
    if (request.url === '/api/whoami' && request.headers['x-forwarded-for'] !== undefined && options.server === ${JSON.stringify(breakage.failsBehindProxyOn)}) {
      void reply.code(500).send({ error: 'broken behind the proxy on purpose' });
      return;
    }
    done();
  });
`;
    writeFileSync(source, text.replace(anchor, fault + anchor));
  }
  return dir;
}
