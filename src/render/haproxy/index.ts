/** HAProxy on a load balancer: round-robin to every web server, health checks, safe retries. */
import path from 'node:path';
import type { HostPaths } from '../../model/layout.ts';
import { addressOf, hostsWithRole, type Host, type Model } from '../../model/model.ts';
import { coreName, transitFiles, trustedCa } from '../../model/transit.ts';
import { renderedHeader } from '../header.ts';

export const HAPROXY_BACKEND = 'web';
/** Writes (every method but GET and HEAD): the same servers, retried only when none took them. */
export const HAPROXY_WRITES_BACKEND = 'web_writes';

/**
 * Mozilla's "intermediate" TLS profile (server side TLS guidelines v5.7): TLS 1.2 and 1.3 only,
 * AEAD ciphers with forward secrecy. The certificate is ECDSA P-256, so of the TLS 1.2 suites only
 * the ECDHE-ECDSA ones are ever chosen; the list stays Mozilla's, unedited.
 */
export const MOZILLA_INTERMEDIATE = {
  curves: 'X25519:prime256v1:secp384r1',
  ciphers:
    'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:' +
    'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:' +
    'DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305',
  ciphersuites: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
  options: 'prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets',
} as const;

/**
 * Headers on every response, HAProxy's own (redirects, errors) included. The CSP allows what the
 * site's pages use: their own scripts, styles, images and API, nothing inline, no framing.
 */
export function securityHeaders(model: Model): readonly (readonly [string, string])[] {
  return [
    ['X-Content-Type-Options', 'nosniff'],
    ['X-Frame-Options', 'DENY'],
    ['Referrer-Policy', 'strict-origin-when-cross-origin'],
    [
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ],
    ['Strict-Transport-Security', `max-age=${model.tls.hstsMaxAgeSeconds}`],
  ];
}

/**
 * How long a web server may take to answer, chosen on measurements (docs/decisions.md): the site's
 * p99 under full load is ~0.1 s (max ~0.25 s), and the app bounds its own waits on the database
 * (a read ~2 s at worst, a write ~7 s: 4 s of retries while a primary changes, 3 s for a commit).
 * Past READ_TIMEOUT a GET or HEAD is retried on another web server, so a web server whose host
 * went silent costs its in-flight reads this long, not 30 s; a write is never retried (it may
 * have run) and gets 504 after WRITE_TIMEOUT.
 */
export const READ_TIMEOUT_SECONDS = 3;
export const WRITE_TIMEOUT_SECONDS = 10;
/** How long a request over the rate limit may take to send its body before its 429. */
export const WAIT_FOR_BODY_SECONDS = 1;
/** A web server's TCP handshake: instant on a live host, so a silent one is left after 1 s. */
export const CONNECT_TIMEOUT_SECONDS = 1;

/** Where an ACME CA asks for the answer to an HTTP-01 challenge (RFC 8555 §8.3). */
export const ACME_CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** The map file's content: empty, since answers exist only while an order is being validated. */
export function renderChallengeMap(): string {
  return renderedHeader(
    '#',
    'ACME HTTP-01 answers: filled at runtime (add map) while foobar orders',
  );
}

/**
 * With `tls.acme`: a challenge's token found in the map is answered with its key authorization
 * on plain HTTP, before the redirect to HTTPS, by HAProxy itself (no backend). Whichever load
 * balancer the CA reaches answers: foobar adds the token to every one's map, in memory.
 */
function challengeRules(model: Model, files: { challenges: string }): string {
  if (model.tls.acme === undefined) return '';
  const answer = `path,field(4,/),map(${files.challenges})`;
  return `    # ACME HTTP-01 (${model.tls.acme.directory}): foobar puts each token's answer in this map through
    # the runtime API while it orders the site's certificate; any other path moves to HTTPS.
    http-request return status 200 content-type text/plain lf-string "%[${answer}]" if { path_beg ${ACME_CHALLENGE_PATH} } { ${answer} -m found }
`;
}

export function haproxyFiles(paths: HostPaths): {
  config: string;
  socket: string;
  /** foobar's pid file for HAProxy's master (the supervisor's, as for every daemon). */
  pid: string;
  /**
   * HAProxy's own (-p), apart from foobar's: HAProxy truncates and writes it at every start and
   * reload, and foobar reading the shared file in between found it empty and took a start for an
   * exit ("haproxy exited while starting", CI of 9574d34, two labs under load).
   */
  masterPid: string;
  log: string;
  /** The site's certificate and key (PEM, 0600). */
  certificate: string;
  /** ACME HTTP-01: token → key authorization, filled through the runtime API (`tls.acme`). */
  challenges: string;
} {
  return {
    config: path.join(paths.etc, 'haproxy.cfg'),
    certificate: path.join(paths.etc, 'tls', 'site.pem'),
    challenges: path.join(paths.etc, 'acme-challenges.map'),
    socket: path.join(paths.run, 'haproxy.sock'),
    pid: path.join(paths.run, 'haproxy.pid'),
    masterPid: path.join(paths.run, 'haproxy-master.pid'),
    log: path.join(paths.log, 'haproxy.log'),
  };
}

/**
 * A web server as a backend server: over TLS (its health checks too: `ssl` carries them), the
 * certificate verified against the lab's CA and for the web server's core name, so a host that
 * answers at its address with another certificate is refused at the handshake.
 */
export function webServer(model: Model, paths: HostPaths, web: Host): string {
  return (
    `${web.name} ${addressOf(web, 'core')}:${model.ports.https} ssl verify required ` +
    `ca-file ${trustedCa(paths)} verifyhost ${coreName(model, web)}`
  );
}

function statsBinds(model: Model, host: Host, paths: HostPaths): string {
  const tls = transitFiles(paths, 'exporters');
  const networks = (['core', 'edge'] as const).filter((n) => host.addresses[n] !== undefined);
  return [
    ...networks.map(
      (n) =>
        `    bind ${addressOf(host, n)}:${model.ports.lbStats} ssl crt ${tls.cert} ssl-min-ver TLSv1.3`,
    ),
    `    bind 127.0.0.1:${model.ports.lbStats}`,
  ].join('\n');
}

export function renderHaproxyConfig(model: Model, host: Host, paths: HostPaths): string {
  const files = haproxyFiles(paths);
  const { checkIntervalMs, fall, rise, retries } = model.lb;
  const webs = hostsWithRole(model, 'web');
  const servers = webs.map((web) => `    server ${webServer(model, paths, web)}`);
  // The writes' servers follow the checked ones (state, drain, maintenance): one check each.
  const writeServers = webs.map(
    (web) => `    server ${webServer(model, paths, web)} track ${HAPROXY_BACKEND}/${web.name}`,
  );
  const limits = model.limits;
  const rate = limits.rateLimit;
  const exempt = rate.exempt.flatMap((name) => {
    const address = model.hosts.find((h) => h.name === name)?.addresses.edge;
    return address === undefined ? [] : [address];
  });
  const headers = securityHeaders(model).map(([name, value]) => {
    // HSTS means something over TLS only (RFC 6797 §8.1): browsers ignore it on plain HTTP.
    const only = name === 'Strict-Transport-Security' ? ' if { ssl_fc }' : '';
    return `    http-after-response set-header ${name} "${value}"${only}`;
  });
  return `${renderedHeader('#', `HAProxy for ${host.name}`)}
global
    master-worker
    # Runtime API: drain and enable servers, read stats (foobar status, deploys).
    stats socket ${files.socket} mode 600 level admin expose-fd listeners
    stats timeout 10s
    log stdout format short local0 info
    maxconn 8000
    # After a reload, old workers get this long to finish their connections.
    hard-stop-after 30s
    # TLS: Mozilla's intermediate profile.
    ssl-default-bind-curves ${MOZILLA_INTERMEDIATE.curves}
    ssl-default-bind-ciphers ${MOZILLA_INTERMEDIATE.ciphers}
    ssl-default-bind-ciphersuites ${MOZILLA_INTERMEDIATE.ciphersuites}
    ssl-default-bind-options ${MOZILLA_INTERMEDIATE.options}
    # To the web servers: TLS 1.3 only (both ends are ours).
    ssl-default-server-options ssl-min-ver TLSv1.3
    # A certificate's key beside it (exporters.crt, exporters.key), as every daemon here reads it.
    ssl-load-extra-del-ext
    # A request with more header lines gets 400; all of them must fit in tune.bufsize (16 kB).
    tune.http.maxhdr ${limits.maxHeaders}

defaults
    mode http
    log global
    option httplog
    # At a reload the old process answers a kept-alive connection's next request with
    # "Connection: close" instead of closing it while idle: a client that sent a request at that
    # instant (one that does not retry on a closed connection, or a proxy in front) got nothing.
    # Idle ones then end within timeout http-keep-alive, and hard-stop-after bounds the rest.
    option idle-close-on-response
    option dontlognull
    option forwardfor
    timeout connect ${CONNECT_TIMEOUT_SECONDS}s
    timeout client 30s
    # GET and HEAD; other methods get longer (see the backend).
    timeout server ${READ_TIMEOUT_SECONDS}s
    # Slow clients: the whole request head must arrive within this, or 408 and close.
    timeout http-request ${limits.requestTimeoutSeconds}s
    timeout http-keep-alive 10s
    timeout queue 5s
    timeout check 2s
    # A request that fails on one web server is sent to another one (see the backend for which),
    # a GET or HEAD that got no answer within the server timeout included (response-timeout).
    retries ${retries}
    option redispatch 1

frontend www
    bind :${model.ports.http}
    bind :${model.ports.https} ssl crt ${files.certificate} alpn h2,http/1.1
    # Requests per client address over the last ${rate.periodSeconds} s; past ${rate.requests}, 429.
    stick-table type ip size 100k expire ${rate.periodSeconds * 2}s store http_req_rate(${rate.periodSeconds}s)
${
  exempt.length === 0
    ? ''
    : `    acl rate_exempt src ${exempt.join(' ')}
`
}    http-request track-sc0 src${exempt.length === 0 ? '' : ' unless rate_exempt'}
    acl over_rate sc_http_req_rate(0) gt ${rate.requests}
    # A request with a body gets its 429 once the body is in (up to a buffer's worth): answered
    # while the client still sends, over HTTP/2 the stream would end in RST_STREAM CANCEL, which
    # curl and browsers take for a network error, not the 429.
    http-request wait-for-body time ${WAIT_FOR_BODY_SECONDS}s if over_rate !METH_GET !METH_HEAD
    http-request deny deny_status 429 content-type text/plain string "Too many requests: try again in ${rate.periodSeconds} s" hdr Retry-After ${rate.periodSeconds} if over_rate
${challengeRules(model, files)}    # Everything on plain HTTP moves to HTTPS; nothing is served in clear. Bodies over the cap get
    # 413 from Nginx behind: HAProxy 2.6 would reset the connection under a client still sending.
    http-request redirect scheme https code 301 unless { ssl_fc }
    http-request return status 414 content-type text/plain string "URI too long" if { url_len gt ${limits.maxUrlBytes} }
    # The app believes these from the load balancers only: a client's own are replaced.
    http-request del-header X-Forwarded-For
    http-request del-header X-Forwarded-Host
    http-request set-header X-Forwarded-Proto https
${headers.join('\n')}
    # Retrying a request the server may have acted on is only safe for GET and HEAD: the others
    # have a backend of their own.
    use_backend ${HAPROXY_WRITES_BACKEND} unless METH_GET
    default_backend ${HAPROXY_BACKEND}

backend ${HAPROXY_BACKEND}
    balance roundrobin
    # A visitor's first request may ride an idle TLS connection another visitor opened, so TLS to
    # the web servers costs no handshake per visit; a request on a connection a web server closed
    # meanwhile is retried like any failed GET (docs/decisions.md: measured against safe).
    http-reuse always
    # Any failure, a timeout included; 425 is Nginx's word for "the app never saw it".
    retry-on all-retryable-errors 425
    http-response set-status 503 if { status 425 }
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host www.${model.domain}
    http-check expect status 200
    default-server check inter ${checkIntervalMs} fastinter ${Math.max(100, Math.round(checkIntervalMs / 2))} downinter ${checkIntervalMs * 2} fall ${fall} rise ${rise}
${servers.join('\n')}

backend ${HAPROXY_WRITES_BACKEND}
    balance roundrobin
    # Only when no web server took the write: the connection failed, or Nginx answered 425 (its
    # app refused the connection). A write that reached an app is never sent twice.
    retry-on conn-failure 425
    http-response set-status 503 if { status 425 }
    # A new server connection for every write: a web server closing an idle kept-alive connection
    # (Nginx's reload at a deploy) at the moment a write is sent on it would take the write along,
    # unanswered and not retryable. Connecting costs well under a millisecond on the core network.
    option http-server-close
    # A write may wait out the app's retries while a primary changes: it gets longer, and then 504.
    timeout server ${WRITE_TIMEOUT_SECONDS}s
${writeServers.join('\n')}

frontend stats
    # The monitor (core) and the admin (edge) over TLS 1.3 only, with this host's exporters'
    # certificate; plain HTTP on loopback only, for keepalived's checks and this host's probes.
${statsBinds(model, host, paths)}
    # Healthy while at least one web server is up (keepalived and probes ask this).
    monitor-uri /health
    monitor fail if { nbsrv(${HAPROXY_BACKEND}) lt 1 }
    http-request set-log-level silent
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /
    stats refresh 5s
    stats show-legends
`;
}
