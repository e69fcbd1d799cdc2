//! The provider conformance suite against BIND 9 and Knot.

mod bind {
    use feddns_rfc2136::testing::{Kind, Options, ServerZone};

    feddns_provider::conformance_tests!(
        #[ignore = "needs named (Debian bind9); tests/run-all.sh installs it"]
        ServerZone::start(Kind::Bind, Options::default())
    );
}

mod knot {
    use feddns_rfc2136::testing::{Kind, Options, ServerZone};

    feddns_provider::conformance_tests!(
        #[ignore = "needs knotd (Debian knot); tests/run-all.sh installs it"]
        ServerZone::start(Kind::Knot, Options::default())
    );
}
