import { serverPackages } from '../../src/platform/machines/provision.ts';

/**
 * What the machines' image holds. The base is the smallest Debian 12 that boots with systemd and
 * answers SSH; the packages layer adds every Debian package foobar's servers run (the server side
 * of scripts/bootstrap.sh's list, from scripts/server-packages.txt: not the admin's browser nor the
 * load generator), so the tests need no network and a provisioning run finds everything present.
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

/** Every server's packages: the list scripts/bootstrap.sh installs in the lab too. */
export const SERVER_PACKAGES = serverPackages();
