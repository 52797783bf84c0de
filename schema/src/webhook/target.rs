//! Where a webhook may be sent: URL rules (http(s), a host, no credentials) and the address ranges
//! a webhook must never reach (loopback, private, link-local, CGNAT, multicast, metadata, ...),
//! checked on every address a name resolves to. The dispatcher checks again at connect time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Is this address one a webhook must never reach (unless private targets are allowed)?
/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_blocked_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_blocked_v4(v4),
            None => is_blocked_v6(v6),
        },
    }
}

fn is_blocked_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0                                   // 0.0.0.0/8
        || a == 10                           // 10.0.0.0/8
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10 CGNAT
        || a == 127                          // loopback
        || (a == 169 && b == 254)            // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // 172.16.0.0/12
        || (a == 192 && b == 0 && c == 0)    // 192.0.0.0/24
        || (a == 192 && b == 168)            // 192.168.0.0/16
        || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
}

fn is_blocked_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (first & 0xff00) == 0xff00 // ff00::/8 multicast
        || ip.to_ipv4().is_some_and(|v4| ip.segments()[..6] == [0; 6] && is_blocked_v4(v4))
    // ::a.b.c.d
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
    let host = match url.host() {
        Some(h) => h,
        None => return Err("the URL must name a host".into()),
    };
    if raw.len() > 2048 {
        return Err("the URL has more than 2048 characters".into());
    }
    if allow_private {
        return Ok(url);
    }
    let blocked = "points into a private, loopback, link-local or metadata network, which webhooks may not reach";
    match host {
        url::Host::Ipv4(ip) if is_blocked_ip(IpAddr::V4(ip)) => {
            return Err(format!("{ip} {blocked}"))
        }
        url::Host::Ipv6(ip) if is_blocked_ip(IpAddr::V6(ip)) => {
            return Err(format!("[{ip}] {blocked}"))
        }
        url::Host::Domain(name) => {
            let port = url.port_or_known_default().unwrap_or(443);
            // A name that does not resolve now is accepted: it is checked again at connect time.
            if let Ok(addrs) = tokio::net::lookup_host((name, port)).await {
                for addr in addrs {
                    if is_blocked_ip(addr.ip()) {
                        return Err(format!("{name} resolves to {} and {blocked}", addr.ip()));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_internal_ranges() {
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(
                is_blocked_ip(bad.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))),
                "{bad}"
            );
        }
        for ok in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            let ip: IpAddr = ok.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert!(!is_blocked_ip(ip), "{ok}");
        }
    }

    #[tokio::test]
    async fn refuses_bad_urls() {
        for bad in [
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "not a url",
            "http://127.0.0.1:8080/",
            "http://[::ffff:169.254.169.254]/",
            "http://localhost/",
        ] {
            assert!(check_url(bad, false).await.is_err(), "{bad}");
        }
        assert!(check_url("https://8.8.8.8/hook", false).await.is_ok());
        assert!(check_url("http://127.0.0.1:9/", true).await.is_ok());
    }
}
