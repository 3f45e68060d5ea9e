import { isIP } from 'node:net';

/**
 * The key a client is counted under by the rate limits: its address
 * (`request.ip`, which is the socket address unless TRUST_PROXY names the
 * proxy). IPv4 addresses stand for themselves; IPv6 addresses are grouped by
 * their /64 prefix, since one host commonly holds a whole /64; IPv4-mapped
 * IPv6 addresses (`::ffff:1.2.3.4`) count as the IPv4 address they carry.
 */
export function clientKey(ip: string): string {
  const address = ip.trim();
  if (isIP(address) === 4) return address;
  const groups = ipv6Groups(address);
  if (!groups) return address; // not an IP address (e.g. a unix socket): counted as given
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped), or null when it is not one. */
function ipv6Groups(address: string): number[] | null {
  let text = address.split('%')[0]!.toLowerCase();
  if (isIP(text) !== 6) return null;
  // A dotted IPv4 tail (`::ffff:1.2.3.4`) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((group) => Number.isInteger(group)) ? groups : null;
}
