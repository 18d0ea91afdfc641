//! Where outbound requests may go: the address classes we refuse, the
//! allow-list that lifts a refusal, and the three places that enforce it —
//! the URL itself (scheme, credentials, literal IPs, which never reach a
//! resolver), every redirect hop, and the DNS resolver the client connects
//! through. Checking inside the resolver means the addresses we vet are the
//! addresses the connector dials: there is no second lookup to race.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{AllowEntry, MAX_REDIRECTS};

/// Why an address is not a place we fetch from by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrClass {
    Loopback,
    /// RFC 1918, IPv6 unique-local (fc00::/7) and the deprecated site-local.
    Private,
    LinkLocal,
    /// 100.64.0.0/10, carrier-grade NAT (RFC 6598).
    SharedAddressSpace,
    Unspecified,
    Multicast,
    Broadcast,
    Documentation,
    /// 169.254.169.254 and fd00:ec2::254: instance credentials live there.
    CloudMetadata,
    /// Other special-purpose ranges (IANA registries): "this network",
    /// benchmarking, 240/4, IETF protocol assignments, 6to4, Teredo, discard.
    Reserved,
}

impl fmt::Display for AddrClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private",
            AddrClass::LinkLocal => "link-local",
            AddrClass::SharedAddressSpace => "shared address space (CGNAT)",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Multicast => "multicast",
            AddrClass::Broadcast => "broadcast",
            AddrClass::Documentation => "documentation",
            AddrClass::CloudMetadata => "cloud metadata",
            AddrClass::Reserved => "reserved",
        })
    }
}

/// Why a request was refused before (or instead of) connecting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A scheme other than https (or http when `allow_http`).
    Scheme(String),
    /// The URL carries a user name or password; they would be sent as Basic
    /// credentials and end up in logs, so such URLs are not fetched.
    Credentials,
    /// The URL has no host.
    NoHost,
    /// An address in a refused class that the allow-list does not cover. For
    /// a host name, the first such address it resolved to (none was usable).
    Address(IpAddr, AddrClass),
    /// A redirect to another origin, where only same-origin ones are followed.
    OtherOrigin,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Scheme(s) => write!(f, "scheme {s:?} is not allowed"),
            Refusal::Credentials => f.write_str("URLs with credentials are not fetched"),
            Refusal::NoHost => f.write_str("the URL has no host"),
            Refusal::Address(ip, class) => write!(f, "{ip} is a refused address ({class}) not on the allow-list"),
            Refusal::OtherOrigin => f.write_str("redirects to another origin are not followed"),
        }
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// First match wins, so the narrow entries (metadata, broadcast) precede the
/// ranges that contain them.
const V4: &[(Ipv4Net, AddrClass)] = &[
    (v4(169, 254, 169, 254, 32), AddrClass::CloudMetadata),
    (v4(255, 255, 255, 255, 32), AddrClass::Broadcast),
    (v4(0, 0, 0, 0, 32), AddrClass::Unspecified),
    (v4(0, 0, 0, 0, 8), AddrClass::Reserved),
    (v4(127, 0, 0, 0, 8), AddrClass::Loopback),
    (v4(10, 0, 0, 0, 8), AddrClass::Private),
    (v4(172, 16, 0, 0, 12), AddrClass::Private),
    (v4(192, 168, 0, 0, 16), AddrClass::Private),
    (v4(169, 254, 0, 0, 16), AddrClass::LinkLocal),
    (v4(100, 64, 0, 0, 10), AddrClass::SharedAddressSpace),
    (v4(224, 0, 0, 0, 4), AddrClass::Multicast),
    (v4(192, 0, 2, 0, 24), AddrClass::Documentation),
    (v4(198, 51, 100, 0, 24), AddrClass::Documentation),
    (v4(203, 0, 113, 0, 24), AddrClass::Documentation),
    (v4(192, 0, 0, 0, 24), AddrClass::Reserved),
    (v4(192, 88, 99, 0, 24), AddrClass::Reserved),
    (v4(198, 18, 0, 0, 15), AddrClass::Reserved),
    (v4(240, 0, 0, 0, 4), AddrClass::Reserved),
];

const V6: &[(Ipv6Net, AddrClass)] = &[
    (v6([0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254], 128), AddrClass::CloudMetadata),
    (v6([0; 8], 128), AddrClass::Unspecified),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), AddrClass::Loopback),
    // IPv4-compatible (deprecated); mapped addresses are unwrapped before this.
    (v6([0; 8], 96), AddrClass::Reserved),
    (v6([0x0064, 0xff9b, 1, 0, 0, 0, 0, 0], 48), AddrClass::Private),
    (v6([0x0100, 0, 0, 0, 0, 0, 0, 0], 64), AddrClass::Reserved),
    (v6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32), AddrClass::Documentation),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), AddrClass::Reserved),
    (v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), AddrClass::Reserved),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), AddrClass::Documentation),
    (v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), AddrClass::Reserved),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), AddrClass::Private),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), AddrClass::LinkLocal),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), AddrClass::Private),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), AddrClass::Multicast),
];

/// The well-known NAT64 prefix: an IPv6-only cluster reaches IPv4 issuers
/// through it, so it is judged by the IPv4 address it embeds.
const NAT64: Ipv6Net = v6([0x0064, 0xff9b, 0, 0, 0, 0, 0, 0], 96);

/// `None` for an ordinary public address; otherwise the class that refuses it.
pub fn classify(ip: IpAddr) -> Option<AddrClass> {
    match canonical(ip) {
        IpAddr::V4(a) => V4.iter().find(|(net, _)| net.contains(&a)).map(|(_, class)| *class),
        IpAddr::V6(a) => {
            if NAT64.contains(&a) {
                let [.., w, x, y, z] = a.octets();
                return classify(IpAddr::V4(Ipv4Addr::new(w, x, y, z)));
            }
            V6.iter().find(|(net, _)| net.contains(&a)).map(|(_, class)| *class)
        }
    }
}

/// `::ffff:a.b.c.d` is a.b.c.d on the wire (dual-stack sockets), so it is
/// judged — and matched against the allow-list — as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The compiled policy every check consults; shared by the clients, their
/// resolvers and their redirect policies.
#[derive(Debug)]
pub struct Guard {
    allow_http: bool,
    nets: Vec<IpNet>,
    /// Lower-case, without a trailing dot.
    hosts: Vec<String>,
}

impl Guard {
    pub fn new(allow_http: bool, allow: &[AllowEntry]) -> Guard {
        let mut nets = Vec::new();
        let mut hosts = Vec::new();
        for entry in allow {
            match entry {
                AllowEntry::Net(net) => nets.push(*net),
                AllowEntry::Host(host) => hosts.push(normalize_host(host)),
            }
        }
        Guard { allow_http, nets, hosts }
    }

    /// Whether we may connect to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let Some(class) = classify(ip) else { return Ok(()) };
        let canon = canonical(ip);
        if self.nets.iter().any(|net| net.contains(&canon) || net.contains(&ip)) {
            return Ok(());
        }
        Err(Refusal::Address(ip, class))
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.hosts.contains(&host)
    }

    /// Everything that can be judged from the URL alone. Host names are
    /// judged later, by the resolver, on the addresses it finds.
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(Refusal::Scheme(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let Some(host) = url.host_str() else { return Err(Refusal::NoHost) };
        // The URL parser has already normalized every IPv4 spelling (decimal,
        // hex, short forms) to dotted quads, and brackets IPv6 literals; any
        // other host is a name.
        match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => self.check_ip(ip),
            Err(_) => Ok(()),
        }
    }

    /// Keep the permitted addresses of `host`; refuse when none is left.
    pub fn filter(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refusal> {
        if self.host_allowed(host) {
            return Ok(addrs);
        }
        let mut first_refusal = None;
        let mut kept = Vec::with_capacity(addrs.len());
        for addr in addrs {
            match self.check_ip(addr.ip()) {
                Ok(()) => kept.push(addr),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        match (kept.is_empty(), first_refusal) {
            (true, Some(refusal)) => Err(refusal),
            _ => Ok(kept),
        }
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Carried through reqwest's error chain so the caller can report which
/// host or hop was refused and why.
#[derive(Debug)]
pub struct Refused {
    /// The redirect target, when a hop was refused; `None` from the resolver.
    pub hop: Option<Url>,
    pub reason: Refusal,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused: {}", self.reason)
    }
}

impl std::error::Error for Refused {}

/// The redirect chain was longer than [`MAX_REDIRECTS`].
#[derive(Debug)]
pub struct TooManyRedirects;

impl fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "more than {MAX_REDIRECTS} redirects")
    }
}

impl std::error::Error for TooManyRedirects {}

/// Every hop is held to the same rules as the first URL; a hop to a host
/// name is additionally filtered by the resolver when it connects.
/// `same_origin`: a hop to another origin is refused (a client's metadata
/// document is the client's own, so it must stay on its host).
pub fn redirect_policy(guard: Arc<Guard>, same_origin: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        // `previous` includes the original URL, so it counts hops taken so far.
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(TooManyRedirects);
        }
        if same_origin && attempt.previous().first().is_some_and(|first| first.origin() != attempt.url().origin()) {
            let hop = Some(attempt.url().clone());
            return attempt.error(Refused { hop, reason: Refusal::OtherOrigin });
        }
        match guard.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(reason) => {
                let hop = Some(attempt.url().clone());
                attempt.error(Refused { hop, reason })
            }
        }
    })
}

/// The system resolver (through tokio), then [`Guard::filter`].
pub struct GuardedResolver(pub Arc<Guard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest substitutes the URL's port.
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = guard.filter(&host, found).map_err(|reason| Refused { hop: None, reason })?;
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_refused_range_is_classified() {
        let cases = [
            ("127.0.0.1", AddrClass::Loopback),
            ("127.255.255.254", AddrClass::Loopback),
            ("::1", AddrClass::Loopback),
            ("10.1.2.3", AddrClass::Private),
            ("172.16.0.1", AddrClass::Private),
            ("172.31.255.255", AddrClass::Private),
            ("192.168.1.1", AddrClass::Private),
            ("fc00::1", AddrClass::Private),
            ("fd12:3456::1", AddrClass::Private),
            ("fec0::1", AddrClass::Private),
            ("64:ff9b:1::a", AddrClass::Private),
            ("169.254.1.1", AddrClass::LinkLocal),
            ("fe80::1", AddrClass::LinkLocal),
            ("100.64.0.1", AddrClass::SharedAddressSpace),
            ("100.127.255.255", AddrClass::SharedAddressSpace),
            ("0.0.0.0", AddrClass::Unspecified),
            ("::", AddrClass::Unspecified),
            ("224.0.0.1", AddrClass::Multicast),
            ("239.255.255.250", AddrClass::Multicast),
            ("ff02::1", AddrClass::Multicast),
            ("255.255.255.255", AddrClass::Broadcast),
            ("192.0.2.1", AddrClass::Documentation),
            ("198.51.100.1", AddrClass::Documentation),
            ("203.0.113.1", AddrClass::Documentation),
            ("2001:db8::1", AddrClass::Documentation),
            ("3fff::1", AddrClass::Documentation),
            ("169.254.169.254", AddrClass::CloudMetadata),
            ("fd00:ec2::254", AddrClass::CloudMetadata),
            ("0.1.2.3", AddrClass::Reserved),
            ("192.0.0.192", AddrClass::Reserved),
            ("198.18.0.1", AddrClass::Reserved),
            ("240.0.0.1", AddrClass::Reserved),
            ("::7f00:1", AddrClass::Reserved),
            ("2001::1", AddrClass::Reserved),
            ("2002:7f00:1::", AddrClass::Reserved),
            ("100::1", AddrClass::Reserved),
        ];
        for (addr, class) in cases {
            assert_eq!(classify(ip(addr)), Some(class), "{addr}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "169.255.0.1",
            "2606:4700::1111",
            "2a00:1450::1",
            "64:ff9b::808:808",
        ] {
            assert_eq!(classify(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn ipv4_mapped_and_nat64_forms_are_judged_as_ipv4() {
        let cases = [
            ("::ffff:127.0.0.1", AddrClass::Loopback),
            ("::ffff:10.0.0.1", AddrClass::Private),
            ("::ffff:169.254.169.254", AddrClass::CloudMetadata),
            ("::ffff:169.254.3.4", AddrClass::LinkLocal),
            ("::ffff:100.64.1.1", AddrClass::SharedAddressSpace),
            ("::ffff:0.0.0.0", AddrClass::Unspecified),
            ("::ffff:224.0.0.1", AddrClass::Multicast),
            ("::ffff:255.255.255.255", AddrClass::Broadcast),
            ("::ffff:192.0.2.1", AddrClass::Documentation),
            ("64:ff9b::127.0.0.1", AddrClass::Loopback),
            ("64:ff9b::169.254.169.254", AddrClass::CloudMetadata),
        ];
        for (addr, class) in cases {
            assert_eq!(classify(ip(addr)), Some(class), "{addr}");
        }
        assert_eq!(classify(ip("::ffff:8.8.8.8")), None);
    }

    #[test]
    fn allow_list_lifts_refusals_by_net_and_by_host() {
        let allow: Vec<AllowEntry> =
            ["10.0.0.0/8", "127.0.0.1", "Kubernetes.Default.Svc."].iter().map(|s| s.parse().unwrap()).collect();
        let guard = Guard::new(false, &allow);
        assert_eq!(guard.check_ip(ip("10.2.3.4")), Ok(()));
        assert_eq!(guard.check_ip(ip("127.0.0.1")), Ok(()));
        // The mapped form of an allowed address is allowed too.
        assert_eq!(guard.check_ip(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(guard.check_ip(ip("127.0.0.2")), Err(Refusal::Address(ip("127.0.0.2"), AddrClass::Loopback)));
        assert!(guard.check_ip(ip("192.168.0.1")).is_err());
        assert!(guard.check_ip(ip("169.254.169.254")).is_err());

        let sock = |s: &str| SocketAddr::new(ip(s), 0);
        let internal = vec![sock("10.96.0.1"), sock("192.168.0.7")];
        assert_eq!(guard.filter("kubernetes.default.svc", internal.clone()), Ok(internal.clone()));
        // Not the allowed name: only the allowed net survives.
        assert_eq!(guard.filter("evil.example", internal), Ok(vec![sock("10.96.0.1")]));
        assert_eq!(
            guard.filter("evil.example", vec![sock("192.168.0.7"), sock("fd00:ec2::254")]),
            Err(Refusal::Address(ip("192.168.0.7"), AddrClass::Private))
        );
        assert_eq!(guard.filter("public.example", vec![sock("1.2.3.4")]), Ok(vec![sock("1.2.3.4")]));
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_addresses() {
        let strict = Guard::new(false, &[]);
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(strict.check_url(&url("https://issuer.example/jwks")), Ok(()));
        assert_eq!(strict.check_url(&url("http://issuer.example/")), Err(Refusal::Scheme("http".into())));
        assert_eq!(strict.check_url(&url("file:///etc/passwd")), Err(Refusal::Scheme("file".into())));
        assert_eq!(strict.check_url(&url("https://u:p@issuer.example/")), Err(Refusal::Credentials));
        let refused = |s: &str| matches!(strict.check_url(&url(s)), Err(Refusal::Address(..)));
        assert!(refused("https://127.0.0.1/"));
        assert!(refused("https://169.254.169.254/latest/meta-data/"));
        assert!(refused("https://[::ffff:127.0.0.1]/"));
        assert!(refused("https://[fd00:ec2::254]/"));
        // Other spellings of loopback are normalized by the URL parser.
        assert!(refused("https://2130706433/"));
        assert!(refused("https://0x7f.1/"));
        let http = Guard::new(true, &[]);
        assert_eq!(http.check_url(&url("http://issuer.example/")), Ok(()));
        assert!(http.check_url(&url("ftp://issuer.example/")).is_err());
    }
}
