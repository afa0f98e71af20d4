/** IPv4 arithmetic for the model: subnets, host addresses, overlap. */

export interface Subnet {
  /** Network address as a 32-bit unsigned integer. */
  readonly base: number;
  readonly prefix: number;
  /** The subnet as written, normalised: "10.77.1.0/24". */
  readonly cidr: string;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** Parses "a.b.c.d/n"; returns an error message instead of throwing, for the config validator. */
export function parseSubnet(text: string): Subnet | string {
  const [addr, len, ...rest] = text.split('/');
  const prefix = Number(len);
  const ip = addr === undefined ? undefined : parseIPv4(addr);
  if (rest.length > 0 || ip === undefined || !Number.isInteger(prefix) || len === '') {
    return `expected a subnet like 10.77.1.0/24, got "${text}"`;
  }
  if (prefix < 8 || prefix > 29) return `prefix /${prefix} is out of range: use /8 to /29`;
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0)
    return `${text} has host bits set: did you mean ${formatIPv4(ip - (ip % size))}/${prefix}?`;
  return { base: ip, prefix, cidr: `${formatIPv4(ip)}/${prefix}` };
}

export function subnetSize(subnet: Subnet): number {
  return 2 ** (32 - subnet.prefix);
}

/** The address of host number `n` in the subnet (n = 1 is the first usable address). */
export function hostAddress(subnet: Subnet, n: number): string {
  if (!Number.isInteger(n) || n < 1 || n >= subnetSize(subnet) - 1) {
    throw new RangeError(`host number ${n} does not fit in ${subnet.cidr}`);
  }
  return formatIPv4(subnet.base + n);
}

export function fitsInSubnet(subnet: Subnet, n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n < subnetSize(subnet) - 1;
}

export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  return a.base < b.base + subnetSize(b) && b.base < a.base + subnetSize(a);
}

export function subnetContains(subnet: Subnet, address: string): boolean {
  const ip = parseIPv4(address);
  return ip !== undefined && ip >= subnet.base && ip < subnet.base + subnetSize(subnet);
}

/**
 * An address or a block of them outside the site's networks ("203.0.113.53", "151.101.0.0/16"):
 * prefixes from /8 (a provider's or a CDN's range) to /32 (one address, also without "/32").
 * Returns an error message instead of throwing, for the config validator.
 */
export function parseBlock(text: string): Subnet | string {
  const [addr, len, ...rest] = text.split('/');
  const ip = addr === undefined ? undefined : parseIPv4(addr);
  const prefix = len === undefined ? 32 : Number(len);
  if (rest.length > 0 || ip === undefined || len === '' || !Number.isInteger(prefix))
    return `expected an address like 203.0.113.53 or a block like 203.0.113.0/24, got "${text}"`;
  if (prefix < 8 || prefix > 32) return `prefix /${prefix} is out of range: use /8 to /32`;
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0)
    return `${text} has host bits set: did you mean ${formatIPv4(ip - (ip % size))}/${prefix}?`;
  return { base: ip, prefix, cidr: prefix === 32 ? formatIPv4(ip) : `${formatIPv4(ip)}/${prefix}` };
}

/** A route destination as `ip route` prints it ("10.0.0.0/8", "10.0.0.1"), any prefix length. */
export function routeSubnet(dst: string): Subnet | undefined {
  const [addr, len] = dst.split('/');
  const ip = addr === undefined ? undefined : parseIPv4(addr);
  const prefix = len === undefined ? 32 : Number(len);
  if (ip === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  return { base: ip - (ip % 2 ** (32 - prefix)), prefix, cidr: dst };
}
