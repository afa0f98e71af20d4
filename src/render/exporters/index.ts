/**
 * The web config of Debian's exporters built on Prometheus's exporter-toolkit (node exporter 1.5,
 * mysqld exporter 0.14: `--web.config.file`): TLS only, with the host's exporters' certificate.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import type { HostPaths } from '../../model/layout.ts';
import { transitFiles } from '../../model/transit.ts';
import { renderedHeader } from '../header.ts';
import { YAML_OPTIONS } from '../yaml.ts';

/**
 * Each exporter's own (the same text): a change restarts each, and an exporter started before
 * TLS (an older lab) is restarted onto it.
 */
export function exporterWebConfigFile(paths: HostPaths, service: string): string {
  return path.join(paths.etc, `${service}-web.yml`);
}

export function renderExporterWebConfig(paths: HostPaths): string {
  const files = transitFiles(paths, 'exporters');
  const config = {
    // The toolkit reads the files at each handshake: a renewed certificate needs no restart.
    tls_server_config: { cert_file: files.cert, key_file: files.key, min_version: 'TLS13' },
  };
  return `${renderedHeader('#', 'The exporters’ web config')}\n${stringify(config, YAML_OPTIONS)}`;
}
