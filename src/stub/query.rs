//! The pure part of `feddns stub`: the kube-dns `--federations` map and the query-name
//! classifier. No I/O, no async, no DNS library types; nothing here panics, whatever the input.
//!
//! # Which names the stub answers, and how
//!
//! The stub is authoritative for `svc.<cluster-domain>` (`svc.cluster.local`); CoreDNS or
//! kube-dns forward only the served suffixes `<federation>.svc.<cluster-domain>` to it.
//!
//! ```text
//! <svc>.<ns>.<fed>.svc.<cluster-domain>   fed configured, svc an RFC 1035 label,   Federation
//!                                          ns and fed RFC 1123 labels
//! svc.<cluster-domain>                     the zone apex                           Apex
//! anything else under svc.<cluster-domain> wrong label count, a wildcard `*`,      NotFederation
//!                                          an unknown federation label               (NXDOMAIN)
//! anything not under svc.<cluster-domain>                                          OutOfSuffix
//!                                                                                    (REFUSED)
//! ```
//!
//! This is kube-dns' `isFederationQuery` (`pkg/dns/dns.go`): exactly `4 + labels(cluster-domain)`
//! labels, the fourth `svc`, the rest the cluster domain, the federation label a key of the map;
//! kube-dns answered every other name under the cluster domain from its own records, and a
//! federation-shaped name with an unknown federation (`mysvc.default.nofederation.svc.
//! cluster.local`) was not found. The stub has no other records, so every non-federation name
//! under `svc.<cluster-domain>` is NXDOMAIN, and names elsewhere are REFUSED: the stub is not
//! authoritative for them and does not recurse. Labels are compared ignoring ASCII case.

use std::collections::BTreeMap;

use crate::federation::names::{MAX_LABEL, check_label, check_name};

/// A federation query: `<service>.<namespace>.<federation>.svc.<cluster-domain>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FederationQuery<'a> {
    /// The Service name, as written in the query.
    pub service: &'a str,
    /// The namespace, as written in the query.
    pub namespace: &'a str,
    /// The federation, as configured (lower-case).
    pub federation: &'a str,
    /// The federation's DNS domain, as configured.
    pub domain: &'a str,
}

/// What kind of name a query asks for (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// A federation query of a configured federation: answered with a CNAME.
    Federation(FederationQuery<'a>),
    /// `svc.<cluster-domain>` itself, the apex of the zone the stub serves.
    Apex,
    /// A name under `svc.<cluster-domain>` that is not a federation query of a configured
    /// federation: NXDOMAIN.
    NotFederation,
    /// A name outside `svc.<cluster-domain>`: REFUSED.
    OutOfSuffix,
}

/// Classifies `qname` (presentation form, a trailing dot optional, any ASCII case) for a stub
/// serving `cluster_domain` (lower-case, no trailing dot, e.g. `cluster.local`) and the
/// `federations` map (federation label → domain, keys lower-case as [`parse_federations`]
/// returns them).
///
/// The returned service and namespace are slices of `qname` in its own case; the federation and
/// domain are the map's. Escaped labels (`a\.b`) never match, because the backslash is not a
/// letter, digit or hyphen.
pub fn classify<'a>(
    qname: &'a str,
    cluster_domain: &str,
    federations: &'a BTreeMap<String, String>,
) -> Outcome<'a> {
    let name = qname.strip_suffix('.').unwrap_or(qname);
    if name.is_empty() {
        return Outcome::OutOfSuffix;
    }
    classify_labels(name.rsplit('.').map(str::as_bytes), cluster_domain, federations)
}

/// [`classify`] for a name given as its labels from the last (top-level) one to the first, as
/// raw bytes (a DNS library's labels, with no escaping: a label holding a `.` or any byte other
/// than a letter, digit or hyphen never matches). This is what the server calls, with no
/// allocation.
pub fn classify_labels<'a>(
    mut labels: impl Iterator<Item = &'a [u8]>,
    cluster_domain: &str,
    federations: &'a BTreeMap<String, String>,
) -> Outcome<'a> {
    if cluster_domain.is_empty() {
        return Outcome::OutOfSuffix;
    }
    for want in cluster_domain.rsplit('.') {
        match labels.next() {
            Some(l) if l.eq_ignore_ascii_case(want.as_bytes()) => {}
            _ => return Outcome::OutOfSuffix,
        }
    }
    match labels.next() {
        Some(l) if l.eq_ignore_ascii_case(b"svc") => {}
        _ => return Outcome::OutOfSuffix,
    }
    let Some(federation) = labels.next() else {
        return Outcome::Apex;
    };
    let (Some(namespace), Some(service), None) = (labels.next(), labels.next(), labels.next()) else {
        return Outcome::NotFederation;
    };
    // Validated labels are ASCII, so these conversions cannot fail.
    let (Ok(service), Ok(namespace), Ok(federation)) = (
        std::str::from_utf8(service),
        std::str::from_utf8(namespace),
        std::str::from_utf8(federation),
    ) else {
        return Outcome::NotFederation;
    };
    if !is_rfc1035_label(service) || !is_rfc1123_label(namespace) || !is_rfc1123_label(federation) {
        return Outcome::NotFederation;
    }
    let mut buf = [0u8; MAX_LABEL];
    let Some(lower) = lower_case(federation, &mut buf) else {
        return Outcome::NotFederation;
    };
    match federations.get_key_value(lower) {
        Some((federation, domain)) => Outcome::Federation(FederationQuery {
            service,
            namespace,
            federation,
            domain,
        }),
        None => Outcome::NotFederation,
    }
}

/// `label` lower-cased into `buf`, if it is ASCII and fits.
fn lower_case<'b>(label: &str, buf: &'b mut [u8; MAX_LABEL]) -> Option<&'b str> {
    let out = buf.get_mut(..label.len())?;
    for (o, b) in out.iter_mut().zip(label.bytes()) {
        if !b.is_ascii() {
            return None;
        }
        *o = b.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

/// An RFC 1123 label ignoring case: 1 to 63 letters, digits and hyphens, starting and ending
/// with a letter or digit (Kubernetes' `IsDNS1123Label` on the lower-cased label).
pub fn is_rfc1123_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// An RFC 1035 label ignoring case: an RFC 1123 label that starts with a letter (Kubernetes'
/// `IsDNS1035Label`, the rule for Service names).
pub fn is_rfc1035_label(label: &str) -> bool {
    is_rfc1123_label(label) && label.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
}

/// Parses a federations map the way kube-dns did (`--federations` and the `federations` key of
/// its ConfigMap, `pkg/dns/federation/federation.go ParseFederationsFlag`): blank text is the
/// empty map; otherwise entries separated by `,`, each `name=domain` split at the first `=`,
/// with spaces trimmed. The name must be an RFC 1123 label, the domain an RFC 1123 subdomain
/// without a trailing dot (and, stricter than kube-dns, with labels of at most 63 characters,
/// since longer ones cannot be DNS names). A later entry for the same name wins. The error
/// names the bad entry.
pub fn parse_federations(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    if text.trim().is_empty() {
        return Ok(map);
    }
    for entry in text.split(',') {
        let Some((name, domain)) = entry.trim().split_once('=') else {
            return Err(format!("federation entry {:?} is not name=domain", entry.trim()));
        };
        let (name, domain) = (name.trim(), domain.trim());
        check_label("federation name", name)
            .map_err(|e| format!("federation entry {:?}: {e}", entry.trim()))?;
        check_name("federation domain", domain)
            .map_err(|e| format!("federation entry {:?}: {e}", entry.trim()))?;
        map.insert(name.to_string(), domain.to_string());
    }
    Ok(map)
}

/// The federations map in its text form (`a=b.com,c=d.org`), for logs.
pub fn format_federations(federations: &BTreeMap<String, String>) -> String {
    federations
        .iter()
        .map(|(n, d)| format!("{n}={d}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feds() -> BTreeMap<String, String> {
        parse_federations("myfed=example.com, other=other.org").unwrap()
    }

    fn fed_query<'a>(
        service: &'a str,
        namespace: &'a str,
        federation: &'a str,
        domain: &'a str,
    ) -> Outcome<'a> {
        Outcome::Federation(FederationQuery {
            service,
            namespace,
            federation,
            domain,
        })
    }

    #[test]
    fn federation_queries_are_recognised_like_kube_dns() {
        let f = feds();
        let cd = "cluster.local";
        assert_eq!(
            classify("mysvc.myns.myfed.svc.cluster.local.", cd, &f),
            fed_query("mysvc", "myns", "myfed", "example.com")
        );
        assert_eq!(
            classify("web.shop.other.svc.cluster.local", cd, &f),
            fed_query("web", "shop", "other", "other.org")
        );
        // Case does not matter; the federation comes back as configured.
        assert_eq!(
            classify("Web.Shop.MyFed.SVC.Cluster.Local.", cd, &f),
            fed_query("Web", "Shop", "myfed", "example.com")
        );
        // A longer cluster domain.
        assert_eq!(
            classify("a.b.myfed.svc.k8s.corp.example.", "k8s.corp.example", &f),
            fed_query("a", "b", "myfed", "example.com")
        );
    }

    #[test]
    fn other_names_under_svc_are_not_federation_queries() {
        let f = feds();
        let cd = "cluster.local";
        for name in [
            // kube-dns' own negative cases.
            "mysvc.myns.svc.cluster.local.",
            "mysvc.default.nofederation.svc.cluster.local.",
            // Wildcards, too many and too few labels.
            "*.myns.myfed.svc.cluster.local",
            "mysvc.*.myfed.svc.cluster.local",
            "x.mysvc.myns.myfed.svc.cluster.local",
            "_tcp.mysvc.myns.myfed.svc.cluster.local",
            "myns.myfed.svc.cluster.local",
            "myfed.svc.cluster.local",
            // Bad labels: a service name must start with a letter, no underscores, no empty labels.
            "1svc.myns.myfed.svc.cluster.local",
            "-svc.myns.myfed.svc.cluster.local",
            "svc-.myns.myfed.svc.cluster.local",
            "my_svc.myns.myfed.svc.cluster.local",
            "mysvc.-ns.myfed.svc.cluster.local",
            "mysvc..myfed.svc.cluster.local",
            ".myns.myfed.svc.cluster.local",
            "mysvc.myns.my\\.fed.svc.cluster.local",
            "mysvc.myns.MY-FED.svc.cluster.local",
        ] {
            assert_eq!(classify(name, cd, &f), Outcome::NotFederation, "{name}");
        }
        let long = format!("{}.myns.myfed.svc.cluster.local", "a".repeat(64));
        assert_eq!(classify(&long, cd, &f), Outcome::NotFederation);
        // A namespace may start with a digit; a service may not.
        assert_eq!(
            classify("s1.0ns.myfed.svc.cluster.local", cd, &f),
            fed_query("s1", "0ns", "myfed", "example.com")
        );
    }

    #[test]
    fn the_apex_and_names_outside_are_told_apart() {
        let f = feds();
        let cd = "cluster.local";
        assert_eq!(classify("svc.cluster.local.", cd, &f), Outcome::Apex);
        assert_eq!(classify("SVC.cluster.LOCAL", cd, &f), Outcome::Apex);
        for name in [
            "",
            ".",
            "cluster.local",
            "local",
            "www.example.com.",
            "mysvc.myns.myfed.svc.cluster.local.example.com",
            "mysvc.myns.myfed.svc.other.local",
            "mysvc.myns.myfed.pod.cluster.local",
            "mysvc.myns.myfed.svc..cluster.local",
            "mysvc.myns.myfed.svccluster.local",
            "svc.cluster.local..",
        ] {
            assert_eq!(classify(name, cd, &f), Outcome::OutOfSuffix, "{name:?}");
        }
        // An empty cluster domain serves nothing (the CLI refuses it anyway).
        assert_eq!(classify("a.b.myfed.svc", "", &f), Outcome::OutOfSuffix);
    }

    #[test]
    fn the_federations_map_parses_like_kube_dns() {
        let m = parse_federations(" a=b.com , c = d.org,a=e.net").unwrap();
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            vec![("a".into(), "e.net".into()), ("c".into(), "d.org".into())]
        );
        assert!(parse_federations("").unwrap().is_empty());
        assert!(parse_federations("  ").unwrap().is_empty());
        assert_eq!(parse_federations("abc=def").unwrap()["abc"], "def");
        // `=` inside the domain is kept by the split and then refused by validation.
        let e = parse_federations("a=b=c").unwrap_err();
        assert!(
            e.starts_with("federation entry \"a=b=c\": federation domain \"b=c\""),
            "{e}"
        );
    }

    #[test]
    fn bad_federations_maps_name_the_entry() {
        for (text, start) in [
            (
                "invalid.map=xyz",
                "federation entry \"invalid.map=xyz\": federation name \"invalid.map\"",
            ),
            ("a=b.com,c", "federation entry \"c\" is not name=domain"),
            ("a=b.com,", "federation entry \"\" is not name=domain"),
            ("a=b.com,,c=d.com", "federation entry \"\" is not name=domain"),
            (
                "Fed=b.com",
                "federation entry \"Fed=b.com\": federation name \"Fed\" is not an RFC 1123 label",
            ),
            (
                "=b.com",
                "federation entry \"=b.com\": federation name \"\" has an empty label",
            ),
            (
                "a=",
                "federation entry \"a=\": federation domain \"\" has an empty label",
            ),
            (
                "a=example.com.",
                "federation entry \"a=example.com.\": federation domain \"example.com.\" has an empty label",
            ),
            (
                "a=Example.com",
                "federation entry \"a=Example.com\": federation domain \"Example.com\" is not an RFC 1123 label",
            ),
            (
                "a=ex ample.com",
                "federation entry \"a=ex ample.com\": federation domain",
            ),
        ] {
            let e = parse_federations(text).unwrap_err();
            assert!(e.starts_with(start), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_map_formats_back() {
        assert_eq!(format_federations(&feds()), "myfed=example.com,other=other.org");
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-z]([a-z0-9-]{0,20}[a-z0-9])?"
    }

    proptest! {
        /// The fuzz target's properties, on the stable toolchain: arbitrary text never panics,
        /// and what classify returns is consistent with the input.
        #[test]
        fn arbitrary_names_and_maps_never_panic(
            qname in prop_oneof![
                any::<String>(),
                "([a-zA-Z0-9*_\\\\-]{0,6}\\.){0,6}(svc\\.)?(cluster\\.local|x)?\\.?",
            ],
            map in prop_oneof![any::<String>(), "[a-zA-Z0-9=,. -]{0,30}"],
            cd in "[a-zA-Z0-9.-]{0,20}",
        ) {
            let parsed = parse_federations(&map).unwrap_or_default();
            for (n, d) in &parsed {
                prop_assert!(check_label("n", n).is_ok() && check_name("d", d).is_ok());
            }
            match classify(&qname, &cd, &parsed) {
                Outcome::Federation(q) => {
                    prop_assert!(parsed.get(q.federation).map(String::as_str) == Some(q.domain));
                    prop_assert!(is_rfc1035_label(q.service) && is_rfc1123_label(q.namespace));
                }
                Outcome::Apex | Outcome::NotFederation | Outcome::OutOfSuffix => {}
            }
            let _ = classify(&qname, "cluster.local", &feds());
        }

        /// Built federation names are recognised; one more label, one fewer, or another
        /// federation makes them NXDOMAIN names; another suffix makes them REFUSED.
        #[test]
        fn built_names_classify_as_built(
            svc in label(), ns in label(), extra in label(), upper in any::<bool>(),
        ) {
            let f = feds();
            let cd = "cluster.local";
            let name = format!("{svc}.{ns}.myfed.svc.cluster.local.");
            let name = if upper { name.to_ascii_uppercase() } else { name };
            match classify(&name, cd, &f) {
                Outcome::Federation(q) => {
                    prop_assert!(q.service.eq_ignore_ascii_case(&svc));
                    prop_assert!(q.namespace.eq_ignore_ascii_case(&ns));
                    prop_assert_eq!((q.federation, q.domain), ("myfed", "example.com"));
                }
                other => prop_assert!(false, "{name}: {other:?}"),
            }
            let unknown = format!("{svc}.{ns}.{extra}x.svc.cluster.local");
            prop_assert_eq!(classify(&unknown, cd, &f), Outcome::NotFederation);
            let longer = format!("{extra}.{svc}.{ns}.myfed.svc.cluster.local");
            prop_assert_eq!(classify(&longer, cd, &f), Outcome::NotFederation);
            let shorter = format!("{ns}.myfed.svc.cluster.local");
            prop_assert_eq!(classify(&shorter, cd, &f), Outcome::NotFederation);
            let outside = format!("{svc}.{ns}.myfed.svc.cluster.{extra}x");
            prop_assert_eq!(classify(&outside, cd, &f), Outcome::OutOfSuffix);
        }

        /// The label predicates agree with the project's RFC 1123 check on lower-case input.
        #[test]
        fn label_predicates_agree_with_names(l in "[a-zA-Z0-9_.-]{0,70}") {
            let lower = l.to_ascii_lowercase();
            prop_assert_eq!(is_rfc1123_label(&l), check_label("x", &lower).is_ok());
            prop_assert_eq!(
                is_rfc1035_label(&l),
                check_label("x", &lower).is_ok() && lower.starts_with(|c: char| c.is_ascii_lowercase())
            );
        }
    }
}
