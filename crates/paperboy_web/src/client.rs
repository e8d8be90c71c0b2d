//! Who a request comes from, for rate limits. The socket's peer, unless the operator names the
//! proxies in front of the site (`PAPERBOY_WEB__TRUSTED_PROXIES`): then `X-Forwarded-For` is read
//! from the right, each trusted hop skipped, and the first address no trusted proxy vouches for is
//! the client. The leftmost entries are whatever the client sent, so they are never believed on
//! their own; with no proxies configured the header is ignored.

use std::net::IpAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

use crate::AppState;

/// Addresses and networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR networks (`127.0.0.1, 10.0.0.0/8,
    /// fd00::/8`). An empty list trusts no proxy.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (address, bits) = match item.split_once('/') {
                Some((address, bits)) => (address, Some(bits)),
                None => (item, None),
            };
            let address: IpAddr =
                address.parse().map_err(|_| format!("{item:?} is not an IP address or a network like 10.0.0.0/8"))?;
            let address = address.to_canonical();
            let max = if address.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(bits) => bits
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{item:?}: the prefix length must be 0 to {max}"))?,
            };
            networks.push((address, bits));
        }
        Ok(TrustedProxies { networks })
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.networks.iter().any(|&(network, bits)| in_network(address, network, bits))
    }
}

fn in_network(address: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The client of a request whose socket peer is `peer`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    // Bytes, not text: a header line with one non-ASCII entry must not vanish whole (the walk then
    // stops at that entry instead).
    let hops: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop that is not an address cannot be told apart from a forgery: the last hop a trusted
        // proxy vouched for is as far as the chain can be believed.
        let Some(address) = std::str::from_utf8(hop).ok().and_then(parse_hop) else { return client };
        client = address;
        if !trusted.contains(address) {
            return address;
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:5000`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    None
}

/// Who is asking, for rate limits (see the module's documentation).
pub struct Client(pub IpAddr);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(Client(client_address(peer, &parts.headers, &state.config.trusted_proxies)))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(client_address(ip("127.0.0.1"), &headers(&["203.0.113.9"]), &none), ip("127.0.0.1"));
        assert_eq!(client_address(ip("198.51.100.1"), &headers(&["203.0.113.9"]), &none), ip("198.51.100.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_and_a_forged_left_part_is_not_believed() {
        let trusted = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        // The client forged "1.2.3.4"; our proxy appended what it saw.
        let forged = headers(&["1.2.3.4, 203.0.113.9"]);
        assert_eq!(client_address(ip("127.0.0.1"), &forged, &trusted), ip("203.0.113.9"));
        // Two proxies of ours in a row.
        let chain = headers(&["203.0.113.9", "10.1.2.3"]);
        assert_eq!(client_address(ip("127.0.0.1"), &chain, &trusted), ip("203.0.113.9"));
        // A peer that is not a proxy of ours is the client, whatever it says.
        assert_eq!(client_address(ip("198.51.100.1"), &forged, &trusted), ip("198.51.100.1"));
        // Garbage stops the walk at the last hop a proxy vouched for.
        assert_eq!(client_address(ip("127.0.0.1"), &headers(&["203.0.113.9, junk"]), &trusted), ip("127.0.0.1"));
        // A line with a non-ASCII entry on the left still gives its right end.
        let mut mixed = HeaderMap::new();
        mixed.append("x-forwarded-for", HeaderValue::from_bytes(b"caf\xc3\xa9, 203.0.113.9").unwrap());
        assert_eq!(client_address(ip("127.0.0.1"), &mixed, &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn ipv4_mapped_addresses_are_the_ipv4_address() {
        let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
        assert!(trusted.contains(ip("::ffff:127.0.0.1")), "a mapped loopback is loopback");
        assert_eq!(client_address(ip("::ffff:198.51.100.1"), &HeaderMap::new(), &trusted), ip("198.51.100.1"));
    }

    #[test]
    fn bad_proxy_lists_say_what_is_wrong() {
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        for bad in ["localhost", "10.0.0.0/33", "10.0.0.0/x", "::/129"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }
}
