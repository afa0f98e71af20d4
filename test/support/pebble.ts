/**
 * Pebble, Let's Encrypt's ACME test server (Debian's package): the internet's certificate
 * authority for the tests. In the lab it is a host of its own on the edge network; for machines it
 * runs on this machine, at its address on the machines' edge bridge. It resolves the site's names
 * through the site's own name servers (`-dnsserver`), validates HTTP-01 on the load balancers'
 * port 80, and issues certificates valid for `validitySeconds`. Its roots are made anew at each
 * start and read from its management endpoint.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ip } from '../../src/commands/ip.ts';
import { hostAddress } from '../../src/model/net.ts';
import { addressOf, hostsWithRole } from '../../src/model/model.ts';
import { isOurProcess } from '../../src/platform/lab/process.ts';
import { waitFor } from '../../src/lib/wait.ts';
import type { Driver, Target } from '../../src/drivers/driver.ts';
import type { TestLab } from './lab.ts';

/** Pebble's host name (its namespace is `<lab>-pebble`) and number on the edge network. */
const HOST = 'pebble';
const EDGE_NUMBER = 250;
/** Pebble's usual ports: the ACME directory, and its management endpoint (roots). */
const ACME_PORT = 14000;
const MANAGEMENT_PORT = 15000;

export interface Pebble {
  /** The ACME directory's URL. */
  readonly directory: string;
  /** The PEM of Pebble's own HTTPS certificate (self-signed here): `tls.acme.caBundle`. */
  readonly caBundle: string;
  /** The PEM of the root its certificates chain to: `tls.acme.roots`, and what clients trust. */
  readonly roots: string;
  /** Stops Pebble (by its PID), removes its namespace and files. */
  stop(): Promise<void>;
}

/** Where Pebble runs and what it asks: the part that differs between the lab and machines. */
export interface PebblePlace {
  readonly driver: Driver;
  /** The host it runs on: a lab namespace, or null (this machine). */
  readonly host: Target;
  /** Its address, where the ACME client and the tests reach it. */
  readonly address: string;
  /** Its files: certificate, config, roots and log (removed by `stop`). */
  readonly dir: string;
  /** The site's name server, `address:port`: how it finds the load balancers. */
  readonly dnsServer: string;
  /** The site's HTTP and HTTPS ports, where it validates. */
  readonly httpPort: number;
  readonly tlsPort: number;
  /** Removes what was made for it (its host), after it has stopped. */
  readonly cleanup?: () => Promise<void>;
}

export async function startPebble(lab: TestLab, validitySeconds: number): Promise<Pebble> {
  const { ctx, model } = lab;
  const ns = ctx.names.namespaceOf(HOST);
  const address = hostAddress(model.networks.edge.subnet, EDGE_NUMBER);
  const port = ctx.names.portOf(HOST, 'edge');
  const cleanup = async (): Promise<void> => {
    await ctx.driver.exec(null, ip.netnsDelete(ns), { check: false });
  };
  try {
    await ctx.driver.exec(null, ip.netnsAdd(ns));
    await ctx.driver.exec(null, ip.linkUp(ns, 'lo'));
    await ctx.driver.exec(
      null,
      ip.vethPair({ ns, name: 'edge' }, { ns: ctx.names.switchNamespace, name: port }),
    );
    await ctx.driver.exec(null, ip.linkSetMaster(ctx.names.switchNamespace, port, 'edge'));
    await ctx.driver.exec(null, ip.linkUp(ctx.names.switchNamespace, port));
    await ctx.driver.exec(
      null,
      ip.addrAdd(ns, 'edge', `${address}/${model.networks.edge.subnet.prefix}`),
    );
    await ctx.driver.exec(null, ip.linkUp(ns, 'edge'));
  } catch (error) {
    await cleanup();
    throw error;
  }
  const dns = hostsWithRole(model, 'dns')[0];
  if (dns === undefined) {
    await cleanup();
    throw new Error('the lab has no DNS server for Pebble to ask');
  }
  return runPebble(
    {
      driver: ctx.driver,
      host: HOST,
      address,
      dir: `${model.lab.stateDir}-pebble`,
      dnsServer: `${addressOf(dns, 'edge')}:${model.ports.dns}`,
      httpPort: model.ports.http,
      tlsPort: model.ports.https,
      cleanup,
    },
    validitySeconds,
  );
}

/** Starts Pebble at `place`, issuing certificates valid for `validitySeconds`, once it serves. */
export async function runPebble(place: PebblePlace, validitySeconds: number): Promise<Pebble> {
  const { driver, host, address, dir } = place;
  mkdirSync(dir, { recursive: true });
  let pid: number | undefined;
  const stop = async (): Promise<void> => {
    if (pid !== undefined) {
      const running = pid;
      process.kill(running, 'SIGTERM');
      await waitFor(
        'pebble to stop',
        async () =>
          (await isOurProcess(driver, null, running, 'pebble-config.json')) ? 'running' : undefined,
        { timeoutMs: 10_000 },
      );
    }
    await place.cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Pebble serves ACME over HTTPS only: a certificate of its own for its address.
    const key = path.join(dir, 'key.pem');
    const caBundle = path.join(dir, 'cert.pem');
    await driver.exec(null, {
      argv: [
        'openssl',
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        caBundle,
        '-days',
        '1',
        '-subj',
        '/CN=pebble',
        '-addext',
        `subjectAltName=IP:${address}`,
      ],
    });
    const config = path.join(dir, 'pebble-config.json');
    writeFileSync(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `${address}:${ACME_PORT}`,
          managementListenAddress: `${address}:${MANAGEMENT_PORT}`,
          certificate: caBundle,
          privateKey: key,
          httpPort: place.httpPort,
          tlsPort: place.tlsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
          certificateValidityPeriod: validitySeconds,
        },
      }),
    );
    pid = await driver.spawn(
      host,
      { argv: ['pebble', '-config', config, '-dnsserver', place.dnsServer] },
      { logFile: path.join(dir, 'pebble.log'), env: { PEBBLE_VA_NOSLEEP: '1' } },
    );
    const roots = path.join(dir, 'roots.pem');
    await waitFor(
      'pebble to serve its directory and roots',
      async () => {
        const got = await driver.exec(
          null,
          {
            argv: [
              'curl',
              '-sS',
              '--fail',
              '--cacert',
              caBundle,
              '-o',
              roots,
              `https://${address}:${MANAGEMENT_PORT}/roots/0`,
            ],
            timeoutMs: 30_000,
          },
          { check: false },
        );
        return got.exitCode === 0 ? undefined : got.stderr.trim();
      },
      { timeoutMs: 20_000 },
    );
    return { directory: `https://${address}:${ACME_PORT}/dir`, caBundle, roots, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
