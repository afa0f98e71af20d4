/**
 * The site as a browser addresses it: https://www.<domain>/, trusted through the lab's CA (and the
 * ACME CA's roots with `tls.acme`).
 */
import { labPaths } from '../model/layout.ts';
import type { Model } from '../model/model.ts';

export function siteUrl(model: Model): string {
  const port = model.ports.https === 443 ? '' : `:${model.ports.https}`;
  return `https://www.${model.domain}${port}/`;
}

/**
 * curl flags for the site: trust the site's authorities (labPaths().siteTrust) and, when `address` is given, send the name to that
 * load balancer (as DNS would) instead of resolving it.
 */
export function siteCurlFlags(model: Model, address?: string): string[] {
  return [
    '--cacert',
    labPaths(model).siteTrust,
    ...(address === undefined
      ? []
      : ['--resolve', `www.${model.domain}:${model.ports.https}:${address}`]),
  ];
}
