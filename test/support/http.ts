/** An HTTP response as curl on a lab host got it: status, headers (lower-case names), body. */
import type { TestLab } from './lab.ts';

export interface Response {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

export function parseResponse(raw: string): Response {
  const cut = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.slice(0, cut).split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(cut + 4) };
}

export async function fetchOn(
  lab: TestLab,
  host: string,
  url: string,
  flags: readonly string[] = [],
): Promise<Response> {
  const result = await lab.on(host, ['curl', '-sS', '-i', ...flags, url]);
  if (result.exitCode !== 0) throw new Error(`curl ${url} on ${host}: ${result.stderr.trim()}`);
  return parseResponse(result.stdout);
}

/** A guestbook write from the client host, as a visitor's browser posts it (`flags`: e.g. which lb). */
export function postFromClient(
  lab: TestLab,
  url: string,
  text: string,
  flags: readonly string[],
): Promise<Response> {
  return fetchOn(lab, 'client', url, [
    '-X',
    'POST',
    '-H',
    'content-type: application/json',
    '--data-binary',
    JSON.stringify({ text }),
    ...flags,
  ]);
}
