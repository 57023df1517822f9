import { isIP } from 'node:net';

/**
 * The key a per-address limiter counts a source address under: an IPv4 address as it is (an
 * IPv4-mapped IPv6 address as its IPv4 form), an IPv6 address as its /64. One IPv6 host is usually
 * given a whole /64, so counting each of its 2^64 addresses apart would hand it a fresh budget per
 * request. Every host of a /64 (and of a NAT or proxy not named in trustProxy) shares one budget.
 */
export function limiterAddress(ip: string): string {
  // No colon: an IPv4 address (or no address at all), kept as it is without parsing.
  if (!ip.includes(':')) return ip;
  const address = ip.split('%')[0]!; // an IPv6 zone (fe80::1%eth0) is not part of the address
  if (isIP(address) !== 6) return ip;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff)
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail split in two). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = address.split('::');
  const first = parse(head);
  if (tail === undefined) return first;
  const last = parse(tail);
  return [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}
