/**
 * What the machines' image holds. The base is the smallest Debian 12 that boots with systemd and
 * answers SSH; the packages layer adds every Debian package foobar's servers run (the server side
 * of scripts/bootstrap.sh's list: not the admin's browser nor the load generator), so the tests
 * need no network and a provisioning run finds everything present.
 */

export const SUITE = 'bookworm';

/** Booted by systemd, reached over SSH, addressed by systemd-networkd. */
export const BASE_PACKAGES: readonly string[] = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'iproute2',
  'procps',
  'ca-certificates',
];

export const SERVER_PACKAGES: readonly string[] = [
  'iproute2',
  'procps',
  'psmisc',
  'util-linux',
  'coreutils',
  'curl',
  'socat',
  'openssl',
  'ca-certificates',
  'haproxy',
  'nginx',
  'nsd',
  'nftables',
  'bind9-dnsutils',
  'mariadb-server',
  'mariadb-client',
  'mariadb-backup',
  'prometheus',
  'prometheus-alertmanager',
  'prometheus-node-exporter',
  'prometheus-nginx-exporter',
  'prometheus-mysqld-exporter',
  'prometheus-blackbox-exporter',
  'keepalived',
  'etcd-server',
  'etcd-client',
];
