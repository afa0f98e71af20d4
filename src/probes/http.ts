/** HTTP probes, run with curl from inside a host: what a client there would see. */
import { curl, parseCurlOutput, type CurlOptions, type CurlResult } from '../commands/curl.ts';
import type { Driver, Target } from '../drivers/driver.ts';

export async function httpRequest(
  driver: Driver,
  target: Target,
  url: string,
  options: CurlOptions = {},
): Promise<CurlResult | { readonly error: string }> {
  const result = await driver.exec(target, curl.request(url, options), { check: false });
  if (result.exitCode !== 0) {
    return { error: result.stderr.trim().split('\n').at(-1) ?? `curl exit ${result.exitCode}` };
  }
  return parseCurlOutput(result.stdout);
}

/** Undefined when the URL answers with the expected status; otherwise what it did instead. */
export async function expectStatus(
  driver: Driver,
  target: Target,
  url: string,
  expected: number | readonly number[] = 200,
  options: CurlOptions = {},
): Promise<string | undefined> {
  const result = await httpRequest(driver, target, url, options);
  if ('error' in result) return result.error;
  const wanted = typeof expected === 'number' ? [expected] : expected;
  return wanted.includes(result.status) ? undefined : `${url} answered ${result.status}`;
}

/**
 * A request over TLS to `address` ("10.77.2.21:9100"), verified against `ca` by `serverName`
 * (which the certificate must name), as the monitor verifies it: the URL and curl's options.
 */
export function verifiedHttps(
  ca: string,
  serverName: string,
  address: string,
  pathAndQuery: string,
): { url: string; options: CurlOptions } {
  const cut = address.lastIndexOf(':');
  const port = address.slice(cut + 1);
  return {
    url: `https://${serverName}:${port}${pathAndQuery}`,
    options: {
      flags: ['--cacert', ca, '--resolve', `${serverName}:${port}:${address.slice(0, cut)}`],
    },
  };
}
