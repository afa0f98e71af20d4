/**
 * The blackbox exporter on the monitoring host probes what has no exporter of its own, as a
 * client would: each DNS server's answer for the site (NSD exports no metrics), and each load
 * balancer's TLS handshake, which tells when the site's certificate expires.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import type { HostPaths } from '../../model/layout.ts';
import { siteAddresses, type Host, type Model } from '../../model/model.ts';
import { PROBE_JOBS } from '../../model/monitoring.ts';
import { renderedHeader } from '../header.ts';
import { YAML_OPTIONS } from '../yaml.ts';

export function blackboxFiles(paths: HostPaths): {
  config: string;
  /** The site's authorities (the lab's CA, the ACME CA's roots), copied onto the monitor: probes trust these only. */
  ca: string;
  pid: string;
  log: string;
} {
  return {
    config: path.join(paths.etc, 'blackbox.yml'),
    ca: path.join(paths.etc, 'site-trust.pem'),
    pid: path.join(paths.run, 'blackbox-exporter.pid'),
    log: path.join(paths.log, 'blackbox-exporter.log'),
  };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function renderBlackboxConfig(model: Model, host: Host, paths: HostPaths): string {
  const site = `www.${model.domain}`;
  const addresses = siteAddresses(model).map(escapeRegex);
  const timeout = `${model.monitoring.scrapeIntervalSeconds}s`;
  const tls = (): object => ({
    prober: 'tcp',
    timeout,
    tcp: {
      preferred_ip_protocol: 'ip4',
      ip_protocol_fallback: false,
      tls: true,
      tls_config: { server_name: site, ca_file: blackboxFiles(paths).ca },
    },
  });
  const config = {
    modules: {
      [PROBE_JOBS.dns.job]: {
        prober: 'dns',
        timeout,
        dns: {
          query_name: site,
          query_type: 'A',
          transport_protocol: PROBE_JOBS.dns.proto,
          preferred_ip_protocol: 'ip4',
          ip_protocol_fallback: false,
          valid_rcodes: ['NOERROR'],
          // At least one answer is a virtual address of the model.
          validate_answer_rrs: {
            fail_if_none_matches_regexp: [
              `^${escapeRegex(site)}\\.\\s+\\d+\\s+IN\\s+A\\s+(${addresses.join('|')})$`,
            ],
          },
        },
      },
      [PROBE_JOBS.tls.job]: tls(),
      // The same handshake, through the virtual addresses.
      [PROBE_JOBS.vip.job]: tls(),
    },
  };
  return `${renderedHeader('#', `Blackbox exporter for ${host.name}`)}\n${stringify(config, YAML_OPTIONS)}`;
}
