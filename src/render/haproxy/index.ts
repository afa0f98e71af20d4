/** HAProxy on a load balancer: round-robin to every web server, health checks, safe retries. */
import path from 'node:path';
import type { HostPaths } from '../../model/layout.ts';
import { addressOf, hostsWithRole, type Host, type Model } from '../../model/model.ts';
import { renderedHeader } from '../header.ts';

export const HAPROXY_BACKEND = 'web';

export function haproxyFiles(paths: HostPaths): {
  config: string;
  socket: string;
  pid: string;
  log: string;
} {
  return {
    config: path.join(paths.etc, 'haproxy.cfg'),
    socket: path.join(paths.run, 'haproxy.sock'),
    pid: path.join(paths.run, 'haproxy.pid'),
    log: path.join(paths.log, 'haproxy.log'),
  };
}

export function renderHaproxyConfig(model: Model, host: Host, paths: HostPaths): string {
  const files = haproxyFiles(paths);
  const { checkIntervalMs, fall, rise, retries } = model.lb;
  const servers = hostsWithRole(model, 'web').map(
    (web) => `    server ${web.name} ${addressOf(web, 'core')}:${model.ports.http}`,
  );
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

defaults
    mode http
    log global
    option httplog
    option dontlognull
    option forwardfor
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 5s
    timeout http-keep-alive 10s
    timeout queue 5s
    timeout check 2s
    # A request that fails on one web server is sent to another one (see the backend for which).
    retries ${retries}
    option redispatch 1
    retry-on all-retryable-errors

frontend www
    bind :${model.ports.http}
    http-request set-header X-Forwarded-Proto http
    default_backend ${HAPROXY_BACKEND}

backend ${HAPROXY_BACKEND}
    balance roundrobin
    # Retrying a request the server may have acted on is only safe for GET and HEAD;
    # other methods are retried only when the connection itself failed.
    http-request disable-l7-retry unless METH_GET
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host www.${model.domain}
    http-check expect status 200
    default-server check inter ${checkIntervalMs} fastinter ${Math.max(100, Math.round(checkIntervalMs / 2))} downinter ${checkIntervalMs * 2} fall ${fall} rise ${rise}
${servers.join('\n')}

frontend stats
    bind :${model.ports.lbStats}
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
