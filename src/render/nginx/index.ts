/** Nginx on a web server: static files of the live releases, everything else to the app. */
import path from 'node:path';
import type { HostPaths } from '../../model/layout.ts';
import { addressOf, type Host, type Model } from '../../model/model.ts';
import { monitorHost } from '../../model/monitoring.ts';
import { transitFiles } from '../../model/transit.ts';
import { renderedHeader } from '../header.ts';

export function nginxFiles(paths: HostPaths): {
  prefix: string;
  config: string;
  /** foobar's pid file for Nginx's master (the supervisor's, as for every daemon). */
  pid: string;
  /** Nginx's own (the `pid` directive), apart from foobar's, as HAProxy's (render/haproxy). */
  masterPid: string;
  errorLog: string;
  accessLog: string;
  temp: string;
} {
  return {
    prefix: paths.root,
    config: path.join(paths.etc, 'nginx.conf'),
    pid: path.join(paths.run, 'nginx.pid'),
    masterPid: path.join(paths.run, 'nginx-master.pid'),
    errorLog: path.join(paths.log, 'nginx-error.log'),
    accessLog: path.join(paths.log, 'nginx-access.log'),
    temp: path.join(paths.run, 'nginx'),
  };
}

/** Nginx answers this itself (from loopback only), so probes can tell Nginx from the app. */
export const NGINX_HEALTH_PATH = '/nginx-health';
/** Nginx's own counters (stub_status), for the Nginx exporter beside it (loopback only). */
export const NGINX_STATUS_PATH = '/nginx-status';
/** The app's metrics: never through the load balancers, only on the metrics port, to the monitor. */
export const APP_METRICS_PATH = '/metrics';

/**
 * What the core network gets: TLS 1.3 only (both ends are ours, and nothing older is needed), with
 * the lab CA's certificate for this host's core name and address (`up` issues and renews it, and
 * reloads Nginx). Sessions are cached so a load balancer's new connection resumes one.
 */
function tlsSettings(paths: HostPaths): string {
  const files = transitFiles(paths, 'nginx');
  return `ssl_certificate ${files.cert};
    ssl_certificate_key ${files.key};
    ssl_protocols TLSv1.3;
    ssl_session_cache shared:tls:10m;
    ssl_session_timeout 1h;`;
}

/** A server that hands the app's metrics to the monitoring host, and to nobody else. */
function metricsServer(model: Model, host: Host): string {
  const mon = monitorHost(model);
  if (mon === undefined) return '';
  return `
    server {
        # Over TLS, as every listener on the core network: Prometheus verifies the certificate.
        listen ${addressOf(host, 'core')}:${model.ports.appMetrics} ssl;
        server_name _;
        access_log off;
        # The monitor only; the host firewall admits nobody else to this port either.
        allow ${addressOf(mon, 'core')};
        deny all;

        location = ${APP_METRICS_PATH} {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_read_timeout 5s;
        }

        location / {
            return 404;
        }
    }
`;
}

/** `appPort`: the port of the app slot that is live on this host (deploys switch it). */
export function renderNginxConfig(
  model: Model,
  host: Host,
  paths: HostPaths,
  appPort: number,
): string {
  const files = nginxFiles(paths);
  const temp = (name: string): string => path.join(files.temp, name);
  return `${renderedHeader('#', `Nginx for ${host.name}`)}
user www-data;
worker_processes auto;
pid ${files.masterPid};
error_log ${files.errorLog} warn;

# After a reload, old workers finish their requests for at most this long (deploys wait for them).
worker_shutdown_timeout 10s;

events {
    worker_connections 4096;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75s;
    keepalive_requests 10000;
    # The body cap of the edge: 413, then the rest of the body is read and dropped (lingering
    # close), so the client sees the answer whether it sends Content-Length or chunks.
    client_max_body_size ${model.limits.maxBodyBytes};
    access_log ${files.accessLog} combined buffer=64k flush=1s;
    ${tlsSettings(paths)}

    client_body_temp_path ${temp('client_body')};
    proxy_temp_path ${temp('proxy')};
    fastcgi_temp_path ${temp('fastcgi')};
    uwsgi_temp_path ${temp('uwsgi')};
    scgi_temp_path ${temp('scgi')};

    gzip on;
    gzip_vary on;
    gzip_min_length 512;
    gzip_types text/css application/javascript image/svg+xml application/json text/plain;

    # The app never saw a request whose last connection attempt to it failed ("-": refused, as
    # when its process is gone); then 425 tells the load balancers to send it to another web
    # server, a write included. Any other failure of the app stays 502: it may have acted.
    map $upstream_connect_time $app_unreached {
        "~(^|, )-$" 1;
        default 0;
    }

    upstream app {
        server 127.0.0.1:${appPort};
        keepalive 64;
        # Shorter than the app's keep-alive timeout, so Nginx never reuses a connection the app closed.
        keepalive_timeout ${model.web.upstreamKeepaliveSeconds}s;
        keepalive_requests 10000;
    }

    server {
        # The load balancers, over the core network: TLS only.
        listen ${addressOf(host, 'core')}:${model.ports.https} ssl default_server backlog=4096;
        # Plain HTTP on loopback only, for this host's own agents: the Nginx exporter, health
        # probes, a deploy's check of the switch. Never on the core network.
        listen 127.0.0.1:${model.ports.http} default_server backlog=4096;
        server_name _;

        # Assets addressed by release id: a page and its assets always come from one release,
        # and an old page still finds its assets while a new release goes live.
        location ~ "^/static/(?<release>[0-9a-f]{12})/(?<asset>[^/][^?]*)$" {
            alias ${paths.releases}/$release/static/$asset;
            add_header X-Served-By ${host.name} always;
            add_header Cache-Control "public, max-age=31536000, immutable" always;
        }

        location = /robots.txt {
            root ${paths.current}/static;
            add_header X-Served-By ${host.name} always;
        }

        location = ${NGINX_HEALTH_PATH} {
            allow 127.0.0.1;
            deny all;
            access_log off;
            default_type text/plain;
            return 200 "ok\\n";
        }

        location = ${NGINX_STATUS_PATH} {
            allow 127.0.0.1;
            deny all;
            access_log off;
            stub_status;
        }

        # The app's metrics are for the monitor (see the metrics server below), not for users.
        location = ${APP_METRICS_PATH} {
            return 404;
        }

        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
            error_page 502 = @app_failed;
        }

        location @app_failed {
            if ($app_unreached) {
                return 425;
            }
            return 502;
        }
    }
${metricsServer(model, host)}}
`;
}
