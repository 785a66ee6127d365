//! Pure classifier: may the fetcher connect to this IP address on a client's behalf?
//!
//! Only publicly routable unicast addresses pass. IPv4 is judged against a list of
//! special-purpose ranges (IANA registry); IPv6 is deny-by-default: only the global
//! unicast block 2000::/3 passes, minus its special ranges, and the IPv6 forms that
//! embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that
//! embedded address, so `::ffff:127.0.0.1` cannot smuggle loopback past the check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True when `ip` is a public unicast address that untrusted URLs may reach.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// `(network, prefix length)` pairs of IPv4 ranges that are never fetched from.
const DENIED_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network", incl. the unspecified 0.0.0.0
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // carrier-grade NAT (often reaches provider internals)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local, incl. cloud metadata 169.254.169.254
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation TEST-NET-1
    ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation TEST-NET-2
    ([203, 0, 113, 0], 24),  // documentation TEST-NET-3
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, incl. broadcast 255.255.255.255
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !DENIED_V4.iter().any(|&(net, len)| {
        let mask = u32::MAX << (32 - u32::from(len));
        bits & mask == u32::from(Ipv4Addr::from(net)) & mask
    })
}

/// `(network, prefix length)` pairs inside 2000::/3 that are not public.
const DENIED_V6_GLOBAL: &[(u128, u8)] = &[
    (0x2001_0000 << 96, 23), // IETF protocol assignments, incl. Teredo 2001::/32
    (0x2001_0db8 << 96, 32), // documentation
    (0x3fff_0000 << 96, 20), // documentation (RFC 9637)
    (0x5f00_0000 << 96, 16), // SRv6 SIDs, not globally routed
];

fn in_prefix(bits: u128, net: u128, len: u8) -> bool {
    let mask = u128::MAX << (128 - u32::from(len));
    bits & mask == net & mask
}

fn embedded_v4(bits: u128) -> Ipv4Addr {
    // The low 32 bits; truncation is the point.
    Ipv4Addr::from((bits & 0xffff_ffff) as u32)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    if bits == 0 || bits == 1 {
        return false; // unspecified, loopback (before the compatible form below)
    }
    // IPv4-mapped ::ffff:a.b.c.d and deprecated IPv4-compatible ::a.b.c.d:
    // the kernel may route these to the embedded IPv4 address.
    if in_prefix(bits, 0xffff << 32, 96) || in_prefix(bits, 0, 96) {
        return is_public_v4(embedded_v4(bits));
    }
    // Well-known NAT64 prefix: the gateway's NAT64 would connect to the embedded v4.
    if in_prefix(bits, 0x0064_ff9b << 96, 96) {
        return is_public_v4(embedded_v4(bits));
    }
    // 6to4: 2002:AABB:CCDD::/48 tunnels to AA.BB.CC.DD.
    if in_prefix(bits, 0x2002 << 112, 16) {
        return is_public_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    // Deny by default: everything outside global unicast 2000::/3 is special
    // (ULA fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast ff00::/8,
    // discard 100::/64, local-use NAT64 64:ff9b:1::/48, unallocated space, ...).
    if !in_prefix(bits, 0x2000 << 112, 3) {
        return false;
    }
    !DENIED_V6_GLOBAL
        .iter()
        .any(|&(net, len)| in_prefix(bits, net, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn public_v4() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "203.0.112.255",
            "223.255.255.255",
        ] {
            assert!(public(s), "{s} should be public");
        }
    }

    #[test]
    fn denied_v4() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.0",
            "10.255.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.0.1",
            "169.254.169.254",
            "172.16.0.0",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.0.1",
            "192.168.255.255",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!public(s), "{s} should be denied");
        }
    }

    #[test]
    fn public_v6() {
        for s in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:81b::200e",
            "2001:200::1", // just past 2001::/23
            "2001:db7:ffff::1",
            "2001:db9::1",
            "2003::1",
            "3ffe::1",
            "3fff:1000::1", // just past 3fff::/20
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(public(s), "{s} should be public");
        }
    }

    #[test]
    fn denied_v6() {
        for s in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.1.2.3",
            "::0.0.0.2",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808", // local-use NAT64
            "2002:7f00:0001::1",
            "2002:0a00:0001::",
            "2002:c0a8:0101:1::1",
            "2001::1",             // Teredo
            "2001:0:4136:e378::1", // Teredo
            "2001:2::1",           // benchmarking
            "2001:10::1",          // ORCHID
            "2001:1ff:ffff::1",    // end of 2001::/23
            "2001:db8::1",
            "2001:db8:ffff:ffff::1",
            "3fff::1",
            "3fff:fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
            "100::1",
            "100::ffff",
            "::ffff:0:7f00:1", // IPv4-translated (SIIT)
            "1::1",            // unallocated, outside 2000::/3
            "4000::1",
            "e000::1",
        ] {
            assert!(!public(s), "{s} should be denied");
        }
    }
}
