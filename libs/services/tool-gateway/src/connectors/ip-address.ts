import { isIPv4, isIPv6 } from 'node:net';

/**
 * What an address is, as far as egress is concerned: only `public` may be reached unless a connection's
 * allow-list entry explicitly allows private networks.
 */
export type AddressCategory =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'unique_local'
  | 'multicast'
  | 'documentation'
  | 'reserved'
  | 'invalid';

type V4Range = [a: number, b: number, c: number, d: number, prefix: number, category: AddressCategory];

/** Every IPv4 range that is not globally routable unicast (RFC 6890 and friends). */
const V4_RANGES: V4Range[] = [
  [0, 0, 0, 0, 8, 'unspecified'], // "this network"; 0.0.0.0 reaches the local host on many stacks
  [10, 0, 0, 0, 8, 'private'],
  [100, 64, 0, 0, 10, 'private'], // carrier-grade NAT shared space
  [127, 0, 0, 0, 8, 'loopback'],
  [169, 254, 0, 0, 16, 'link_local'], // includes the cloud metadata service 169.254.169.254
  [172, 16, 0, 0, 12, 'private'],
  [192, 0, 0, 0, 24, 'reserved'], // IETF protocol assignments
  [192, 0, 2, 0, 24, 'documentation'],
  [192, 88, 99, 0, 24, 'reserved'], // 6to4 relay anycast
  [192, 168, 0, 0, 16, 'private'],
  [198, 18, 0, 0, 15, 'reserved'], // benchmarking
  [198, 51, 100, 0, 24, 'documentation'],
  [203, 0, 113, 0, 24, 'documentation'],
  [224, 0, 0, 0, 4, 'multicast'],
  [240, 0, 0, 0, 4, 'reserved'], // includes the broadcast address 255.255.255.255
];

function v4ToInt(bytes: readonly number[]): number {
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}

function parseIPv4(text: string): number[] | null {
  if (!isIPv4(text)) return null;
  return text.split('.').map((part) => Number(part));
}

function classifyV4(bytes: readonly number[]): AddressCategory {
  const value = v4ToInt(bytes);
  for (const [a, b, c, d, prefix, category] of V4_RANGES) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if (((value & mask) >>> 0) === ((v4ToInt([a, b, c, d]) & mask) >>> 0)) return category;
  }
  return 'public';
}

/** Eight 16-bit groups; the caller has checked the text with `isIPv6`. */
function parseIPv6(text: string): number[] | null {
  const zone = text.indexOf('%');
  const bare = zone === -1 ? text : text.slice(0, zone);
  if (!isIPv6(bare)) return null;
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = parseIPv4(piece);
        if (!v4) return [NaN];
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const gap = bare.indexOf('::');
  let result: number[];
  if (gap === -1) {
    result = groups(bare);
  } else {
    const head = groups(bare.slice(0, gap));
    const tail = groups(bare.slice(gap + 2));
    result = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  return result.length === 8 && result.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? result : null;
}

function embeddedV4(high: number, low: number): number[] {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff];
}

function classifyV6(g: readonly number[]): AddressCategory {
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return 'unspecified';
  if (zeroUpTo(7) && g[7] === 1) return 'loopback';
  // IPv4-mapped ::ffff:a.b.c.d reaches the IPv4 address itself on a dual-stack socket.
  if (zeroUpTo(5) && g[5] === 0xffff) return classifyV4(embeddedV4(g[6], g[7]));
  // IPv4-compatible ::a.b.c.d (deprecated) and SIIT ::ffff:0:a.b.c.d.
  if (zeroUpTo(6)) return 'reserved';
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return 'reserved';
  // NAT64 well-known prefix 64:ff9b::/96 translates to the embedded IPv4 address.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return classifyV4(embeddedV4(g[6], g[7]));
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'private'; // local-use NAT64 64:ff9b:1::/48
  if (g[0] === 0x100 && zeroUpTo(4)) return 'reserved'; // discard-only 100::/64
  if ((g[0] & 0xfe00) === 0xfc00) return 'unique_local'; // fc00::/7
  if ((g[0] & 0xffc0) === 0xfe80) return 'link_local'; // fe80::/10
  if ((g[0] & 0xffc0) === 0xfec0) return 'private'; // deprecated site-local fec0::/10
  if ((g[0] & 0xff00) === 0xff00) return 'multicast'; // ff00::/8
  if (g[0] === 0x2001 && g[1] === 0x0db8) return 'documentation'; // 2001:db8::/32
  if (g[0] === 0x3fff && (g[1] & 0xf000) === 0) return 'documentation'; // 3fff::/20
  // 6to4 2002::/16 carries an IPv4 address in its next 32 bits.
  if (g[0] === 0x2002) return classifyV4(embeddedV4(g[1], g[2]));
  // IETF protocol assignments 2001::/23, including Teredo 2001::/32 (which hides an IPv4 address).
  if (g[0] === 0x2001 && g[1] < 0x200) return 'reserved';
  // Only global unicast 2000::/3 is public.
  if ((g[0] & 0xe000) !== 0x2000) return 'reserved';
  return 'public';
}

/** Classifies an IPv4 or IPv6 address (an IPv6 zone id is ignored); anything unparsable is `invalid`. */
export function classifyAddress(address: string): AddressCategory {
  const v4 = parseIPv4(address);
  if (v4) return classifyV4(v4);
  const v6 = parseIPv6(address);
  if (v6) return classifyV6(v6);
  return 'invalid';
}

export function isPublicAddress(address: string): boolean {
  return classifyAddress(address) === 'public';
}
