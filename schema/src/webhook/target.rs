//! Where a webhook may be sent: URL rules (http(s), a host, no credentials), the documented table
//! of address ranges a webhook must never reach (the IANA special-purpose registries of both
//! families, multicast, reserved space, and the IPv6 classes that embed an IPv4 address), and
//! [`resolve_allowed`], the one function that turns a host into the addresses it may reach. The
//! save-time check ([`check_url`]) and the dispatcher's connect-time resolver both call it, so
//! they normalise a name the same way and judge every address by the same table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// A documented range of addresses a webhook may not reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub net: IpNet,
    /// What the range is, and the RFC that says so.
    pub what: &'static str,
}

const fn v4(a: [u8; 4], len: u8, what: &'static str) -> Range {
    let net = Ipv4Net::new_assert(Ipv4Addr::new(a[0], a[1], a[2], a[3]), len);
    Range {
        net: IpNet::V4(net),
        what,
    }
}

const fn net6(s: [u16; 8], len: u8) -> Ipv6Net {
    let addr = Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
    Ipv6Net::new_assert(addr, len)
}

const fn v6(s: [u16; 8], len: u8, what: &'static str) -> Range {
    Range {
        net: IpNet::V6(net6(s, len)),
        what,
    }
}

/// IPv4: the IANA IPv4 Special-Purpose Address Registry
/// (https://www.iana.org/assignments/iana-ipv4-special-registry/) plus multicast and the reserved
/// class E. Left out on purpose, being globally reachable services: AS112 192.31.196.0/24
/// (RFC 7535), AMT 192.52.193.0/24 (RFC 7450), AS112 direct delegation 192.175.48.0/24 (RFC 7534).
/// The first row that contains an address names it, so narrower rows come first.
#[rustfmt::skip]
static BLOCKED_V4: &[Range] = &[
    v4([0, 0, 0, 0],         8,  "\"this network\", RFC 791; 0.0.0.0 reaches the local host"),
    v4([10, 0, 0, 0],        8,  "private use, RFC 1918"),
    v4([100, 64, 0, 0],      10, "shared address space (carrier-grade NAT), RFC 6598"),
    v4([127, 0, 0, 0],       8,  "loopback, RFC 1122"),
    v4([169, 254, 0, 0],     16, "link-local, cloud metadata at 169.254.169.254, RFC 3927"),
    v4([172, 16, 0, 0],      12, "private use, RFC 1918"),
    v4([192, 0, 0, 0],       24, "IETF protocol assignments (DS-Lite, PCP...), RFC 6890"),
    v4([192, 0, 2, 0],       24, "documentation (TEST-NET-1), RFC 5737"),
    v4([192, 88, 99, 0],     24, "6to4 relay anycast (deprecated), RFC 7526"),
    v4([192, 168, 0, 0],     16, "private use, RFC 1918"),
    v4([198, 18, 0, 0],      15, "benchmarking, RFC 2544"),
    v4([198, 51, 100, 0],    24, "documentation (TEST-NET-2), RFC 5737"),
    v4([203, 0, 113, 0],     24, "documentation (TEST-NET-3), RFC 5737"),
    v4([224, 0, 0, 0],       4,  "multicast, RFC 5771"),
    v4([255, 255, 255, 255], 32, "limited broadcast, RFC 919"),
    v4([240, 0, 0, 0],       4,  "reserved (class E), RFC 1112"),
];

/// IPv6: the IANA IPv6 Special-Purpose Address Registry
/// (https://www.iana.org/assignments/iana-ipv6-special-registry/) plus site-local and multicast.
///
/// The classes that carry an IPv4 address are blocked whole, whatever they carry: their IPv4 is
/// reached through a translator or relay whose reach we cannot see (a NAT64 or 6to4 gateway
/// beside us reaches our private networks), and a receiver has a native address to give instead.
/// So a public IPv4 behind NAT64 is refused too; that is accepted. The one exception is
/// IPv4-mapped `::ffff:0:0/96`, not in this table: it *is* the IPv4 address on a dual-stack
/// socket, so it is judged by [`BLOCKED_V4`] (see [`embedded_v4`], which also re-checks the other
/// classes' IPv4 should a row here ever be narrowed).
/// Left out, being globally reachable: AS112 direct delegation 2620:4f:8000::/48 (RFC 7534).
#[rustfmt::skip]
static BLOCKED_V6: &[Range] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 0],           128, "unspecified, RFC 4291; it reaches the local host"),
    v6([0, 0, 0, 0, 0, 0, 0, 1],           128, "loopback, RFC 4291"),
    v6([0, 0, 0, 0, 0, 0, 0, 0],           96,  "IPv4-compatible (deprecated), RFC 4291"),
    v6([0, 0, 0, 0, 0xffff, 0, 0, 0],      96,  "IPv4-translated (SIIT), RFC 2765"),
    v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0],   96,  "NAT64 well-known prefix, RFC 6052"),
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0],   48,  "NAT64 local-use prefix, RFC 8215"),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0],       64,  "discard-only, RFC 6666"),
    v6([0x100, 0, 0, 1, 0, 0, 0, 0],       64,  "dummy prefix (IANA special-purpose registry)"),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0],      32,  "Teredo, RFC 4380"),
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0],      48,  "benchmarking, RFC 5180"),
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0],   28,  "ORCHID (deprecated), RFC 4843"),
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0],   28,  "ORCHIDv2, RFC 7343"),
    // The rest of the block too: its few anycast services (PCP, TURN, AMT, AS112) and drone
    // entity tags are no webhook receivers.
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0],      23,  "IETF protocol assignments, RFC 2928"),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],  32,  "documentation, RFC 3849"),
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0],      16,  "6to4, RFC 3056"),
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0],      20,  "documentation, RFC 9637"),
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0],      16,  "segment routing (SRv6) SIDs, RFC 9602"),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0],      7,   "unique local, RFC 4193"),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0],      10,  "link-local, RFC 4291"),
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0],      10,  "site-local (deprecated), RFC 3879"),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0],      8,   "multicast, RFC 4291"),
];

/// Where an IPv6 class keeps the IPv4 address it carries.
#[derive(Clone, Copy)]
enum Carry {
    /// The last 32 bits.
    Last32,
    /// Bits 16..48 (6to4).
    Bits16To48,
    /// The last 32 bits, inverted (Teredo's obfuscated client address).
    Last32Inverted,
}

/// The IPv6 classes that carry an IPv4 address. NAT64's local-use `64:ff9b:1::/48` is not here:
/// where its IPv4 sits depends on the prefix length its operator chose (RFC 6052), and it is
/// blocked whole anyway.
#[rustfmt::skip]
static CARRIERS: &[(Ipv6Net, Carry)] = &[
    (net6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),    Carry::Last32),         // IPv4-mapped
    (net6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96),    Carry::Last32),         // IPv4-translated
    (net6([0, 0, 0, 0, 0, 0, 0, 0], 96),         Carry::Last32),         // IPv4-compatible
    (net6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), Carry::Last32),         // NAT64, RFC 6052
    (net6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),    Carry::Bits16To48),     // 6to4, RFC 3056
    (net6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),    Carry::Last32Inverted), // Teredo, RFC 4380
];

/// The IPv4 address an IPv6 address carries, for the classes that carry one.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let (_, carry) = CARRIERS.iter().find(|(net, _)| net.contains(&ip))?;
    let bits = u128::from(ip);
    let v4 = match carry {
        Carry::Last32 => bits as u32,
        Carry::Bits16To48 => (bits >> 80) as u32,
        Carry::Last32Inverted => !(bits as u32),
    };
    Some(Ipv4Addr::from(v4))
}

/// The blocked range `ip` falls in, if any. An IPv6 address that carries an IPv4 address is
/// blocked when the IPv4 address is.
pub fn blocked_range(ip: IpAddr) -> Option<Range> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => BLOCKED_V6
            .iter()
            .find(|r| r.net.contains(&ip))
            .copied()
            .or_else(|| embedded_v4(v6).and_then(blocked_v4)),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<Range> {
    let ip = IpAddr::V4(ip);
    BLOCKED_V4.iter().find(|r| r.net.contains(&ip)).copied()
}

/// Is this an address a webhook must never reach (unless private targets are allowed)?
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    blocked_range(ip).is_some()
}

/// What to do with a name some of whose addresses are blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mixed {
    /// Saving: refuse the name if any of its addresses is blocked.
    Refuse,
    /// Sending: drop the blocked addresses; refuse only when none remains.
    Drop,
}

const UNREACHABLE: &str =
    "webhooks may not reach a private, loopback, link-local or metadata network";

/// How an operator lets webhooks reach local receivers, named where a URL is refused for its
/// network (the server's setting; a refusal at send time is the operator's, and names none).
pub const ALLOW_PRIVATE: &str =
    "set BUILDHOOKS_ALLOW_PRIVATE_TARGETS=true to allow local receivers (development only)";

/// Why a host was refused, or could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// An IP-literal host in a blocked range.
    #[error("{ip} is in {} ({}): {}", .range.net, .range.what, UNREACHABLE)]
    Address { ip: IpAddr, range: Range },
    /// A name with a blocked address (when saving).
    #[error("{name} resolves to {ip}, in {} ({}): {}", .range.net, .range.what, UNREACHABLE)]
    Resolves {
        name: String,
        ip: IpAddr,
        range: Range,
    },
    /// A name whose addresses are all blocked (when sending).
    #[error("{name} resolves only to addresses in blocked ranges: {}", UNREACHABLE)]
    OnlyBlocked { name: String },
    /// Not a URL host.
    #[error("{host} is not a valid host")]
    Invalid { host: String },
    /// The name did not resolve: no verdict, it is judged again when it does.
    #[error("{name} does not resolve")]
    Unresolved {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// The addresses `host` may be reached at on `port`: every address judged by the table unless
/// `allow_private`, a name's blocked addresses refused or dropped as `mixed` says.
///
/// The host is normalised the way the `url` crate does (IDNA, lower case, IPv4 in any of its
/// WHATWG forms), and a name's trailing dot is dropped: `localhost.` and `localhost` are one
/// name, whereas the system resolver may answer only one of them (glibc finds `localhost` in
/// /etc/hosts, not `localhost.`), which let save and send disagree. Dropping the dot may let the
/// resolver's search list expand the name; every address it finds is judged all the same.
pub async fn resolve_allowed(
    host: &str,
    port: u16,
    allow_private: bool,
    mixed: Mixed,
) -> Result<Vec<SocketAddr>, Refused> {
    let ip = match url::Host::parse(host) {
        Ok(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Ok(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Ok(url::Host::Domain(name)) => {
            let name = name.strip_suffix('.').unwrap_or(&name);
            return resolve_name(name, port, allow_private, mixed).await;
        }
        Err(_) => {
            return Err(Refused::Invalid {
                host: host.to_owned(),
            })
        }
    };
    match blocked_range(ip) {
        Some(range) if !allow_private => Err(Refused::Address { ip, range }),
        _ => Ok(vec![SocketAddr::new(ip, port)]),
    }
}

async fn resolve_name(
    name: &str,
    port: u16,
    allow_private: bool,
    mixed: Mixed,
) -> Result<Vec<SocketAddr>, Refused> {
    let found: Vec<SocketAddr> = match tokio::net::lookup_host((name, port)).await {
        Ok(found) => found.collect(),
        Err(source) => {
            return Err(Refused::Unresolved {
                name: name.to_owned(),
                source,
            })
        }
    };
    if allow_private {
        return Ok(found);
    }
    let mut allowed = Vec::with_capacity(found.len());
    for addr in &found {
        match blocked_range(addr.ip()) {
            None => allowed.push(*addr),
            Some(range) if mixed == Mixed::Refuse => {
                return Err(Refused::Resolves {
                    name: name.to_owned(),
                    ip: addr.ip(),
                    range,
                })
            }
            Some(_) => {}
        }
    }
    if allowed.is_empty() && !found.is_empty() {
        return Err(Refused::OnlyBlocked {
            name: name.to_owned(),
        });
    }
    Ok(allowed)
}

/// Checks a webhook URL when it is saved: scheme, host, no credentials, and (unless
/// `allow_private`) that neither the host nor any address it resolves to is blocked.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the URL must start with http:// or https://".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not contain credentials; use the secret to sign instead".into());
    }
    let Some(host) = url.host_str() else {
        return Err("the URL must name a host".into());
    };
    if raw.len() > 2048 {
        return Err("the URL has more than 2048 characters".into());
    }
    if allow_private {
        return Ok(url);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    match resolve_allowed(host, port, false, Mixed::Refuse).await {
        // A name that does not resolve now is accepted: it is checked again at connect time.
        Ok(_) | Err(Refused::Unresolved { .. }) => Ok(url),
        Err(refused @ Refused::Invalid { .. }) => Err(refused.to_string()),
        Err(refused) => Err(format!("{refused}; {ALLOW_PRIVATE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_documented_class_is_refused() {
        // IPv4 special-purpose registry, multicast, reserved.
        let v4 = "0.0.0.0 0.1.2.3 10.0.0.1 100.64.0.1 100.127.255.255 127.0.0.1 127.1.2.3
            169.254.169.254 172.16.0.1 172.31.255.255 192.0.0.8 192.0.0.170 192.0.2.1 192.88.99.1
            192.168.1.1 198.18.0.1 198.19.255.255 198.51.100.7 203.0.113.9 224.0.0.1
            239.255.255.250 240.0.0.1 255.255.255.255";
        // IPv6 special-purpose registry, site-local, multicast.
        let v6 = ":: ::1 100::1 100:0:0:1::1 2001:2::1 2001:3::1 2001:10::1 2001:20::1 2001:db8::1
            3fff::1 3fff:fff::1 5f00::1 fc00::1 fd12:3456::1 fe80::1 fec0::1 ff02::1
            64:ff9b:1::a00:1";
        // The classes that embed an IPv4 address, carrying a blocked one: mapped, translated,
        // compatible, NAT64, 6to4, Teredo (client 127.0.0.1).
        let embedded = "::ffff:127.0.0.1 ::ffff:169.254.169.254 ::ffff:0:7f00:1 ::7f00:1
            64:ff9b::7f00:1 64:ff9b::a9fe:a9fe 2002:7f00:1:: 2002:a9fe:a9fe::
            2001:0:4136:e378:8000:63bf:80ff:fffe";
        for bad in [v4, v6, embedded].iter().flat_map(|l| l.split_whitespace()) {
            assert!(is_blocked_ip(ip(bad)), "{bad}");
        }
    }

    #[test]
    fn public_addresses_are_accepted() {
        let public = "8.8.8.8 1.1.1.1 172.32.0.1 100.128.0.1 192.0.3.1 192.31.196.1 198.20.0.1
            223.255.255.255 ::ffff:8.8.8.8 2606:4700::1111 2a00:1450:4001::1 2001:4860:4860::8888
            2001:200::1 2620:4f:8000::1";
        for ok in public.split_whitespace() {
            assert_eq!(blocked_range(ip(ok)), None, "{ok}");
        }
    }

    #[test]
    fn embedded_ipv4_is_extracted_per_class() {
        let carriers = "::ffff:127.0.0.1 ::ffff:0:7f00:1 ::7f00:1 64:ff9b::7f00:1 2002:7f00:1::
            2002:7f00:1:ffff::1 2001:0:4136:e378:8000:63bf:80ff:fffe";
        for carrier in carriers.split_whitespace() {
            let IpAddr::V6(v6) = ip(carrier) else {
                panic!("{carrier} is IPv6")
            };
            assert_eq!(embedded_v4(v6), Some(Ipv4Addr::LOCALHOST), "{carrier}");
        }
        let IpAddr::V6(plain) = ip("2606:4700::1111") else {
            panic!("IPv6")
        };
        assert_eq!(embedded_v4(plain), None);
    }

    #[test]
    fn translation_prefixes_are_refused_even_around_a_public_ipv4() {
        // The documented decision: NAT64, 6to4, Teredo and IPv4-compatible are blocked whole.
        let public_inside = "64:ff9b::808:808 2002:808:808::1 2001:0:4136:e378:8000:63bf:f7f7:f7f7
            ::808:808 ::ffff:0:808:808";
        for bad in public_inside.split_whitespace() {
            assert!(is_blocked_ip(ip(bad)), "{bad}");
        }
        // A mapped address is the IPv4 address itself, so it is named by the IPv4 row.
        let mapped = blocked_range(ip("::ffff:169.254.169.254")).map(|r| r.net.to_string());
        assert_eq!(mapped.as_deref(), Some("169.254.0.0/16"));
    }

    #[test]
    fn every_row_blocks_its_first_and_last_address() {
        for row in BLOCKED_V4.iter().chain(BLOCKED_V6) {
            assert!(
                row.net.addr() == row.net.network(),
                "{} has host bits",
                row.net
            );
            assert!(is_blocked_ip(row.net.network()), "{}", row.net);
            assert!(is_blocked_ip(row.net.broadcast()), "{}", row.net);
        }
    }

    #[tokio::test]
    async fn names_are_normalised_before_they_are_resolved() {
        // Trailing dot, case and IDNA (circled letters map to ASCII) give one name.
        for name in ["localhost", "localhost.", "LOCALHOST.", "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ."] {
            let saved = resolve_allowed(name, 80, false, Mixed::Refuse).await;
            assert!(
                matches!(saved, Err(Refused::Resolves { .. })),
                "{name}: {saved:?}"
            );
            let sent = resolve_allowed(name, 80, false, Mixed::Drop).await;
            assert!(
                matches!(sent, Err(Refused::OnlyBlocked { .. })),
                "{name}: {sent:?}"
            );
            let allowed = resolve_allowed(name, 80, true, Mixed::Drop).await;
            assert!(allowed.is_ok_and(|a| !a.is_empty()), "{name}");
        }
        // IP literals in the forms the `url` crate reads.
        for literal in ["127.0.0.1.", "0x7f.1", "2130706433", "[::ffff:7f00:1]"] {
            let sent = resolve_allowed(literal, 80, false, Mixed::Drop).await;
            assert!(
                matches!(sent, Err(Refused::Address { .. })),
                "{literal}: {sent:?}"
            );
        }
        let public = resolve_allowed("[2606:4700::1111]", 443, false, Mixed::Refuse).await;
        assert!(public.is_ok_and(|a| a == [SocketAddr::new(ip("2606:4700::1111"), 443)]));
    }

    #[tokio::test]
    async fn refuses_bad_urls() {
        for bad in [
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "not a url",
            "http://127.0.0.1:8080/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2001:db8::1]/",
            "http://192.0.2.1/",
            "http://localhost/",
            "http://localhost./",
            "http://LocalHost.:8080/",
        ] {
            assert!(check_url(bad, false).await.is_err(), "{bad}");
        }
        assert!(check_url("https://8.8.8.8/hook", false).await.is_ok());
        assert!(check_url("https://[2a00:1450:4001::1]/hook", false)
            .await
            .is_ok());
        assert!(check_url("http://127.0.0.1:9/", true).await.is_ok());
        assert!(check_url("http://localhost./", true).await.is_ok());
    }
}
