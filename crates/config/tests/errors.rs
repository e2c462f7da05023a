//! One test per error class: the exact `LINE:COL`, message and hint users see.

use switchyard_config::{parse, Error};

/// A valid pool other snippets can refer to.
const POOL: &str =
    "[[pool]]\nname = \"app\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:9001\"\n";

fn errors(src: &str) -> Vec<Error> {
    match parse(src, "lb.toml") {
        Ok(_) => panic!("expected errors for:\n{src}"),
        Err(e) => e.0,
    }
}

/// The only error, as `LINE:COL: message`.
fn only(src: &str) -> String {
    let errs = errors(src);
    assert_eq!(errs.len(), 1, "expected one error, got: {errs:#?}");
    format!("{}:{}: {}", errs[0].line, errs[0].col, errs[0].message)
}

fn hint(src: &str) -> String {
    errors(src)[0].hint.clone().unwrap_or_default()
}

fn data(file: &str) -> String {
    format!("{}/tests/data/certs/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn geoip(file: &str) -> String {
    format!(
        "{}/../../../shared/data/geoip/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn toml_syntax_errors_are_located() {
    let e = &errors("[[pool]]\nname = \n")[0];
    assert_eq!((e.file.as_str(), e.line), ("lb.toml", 2));
    assert!(e.to_string().starts_with("lb.toml:2:"), "{e}");
}

#[test]
fn unknown_key_suggests_the_near_one_and_lists_the_rest() {
    let src = format!(
        "[[pool]]\nname = \"app\"\nalgoritm = \"random\"\n{}",
        &POOL[22..]
    );
    let src = src.as_str();
    assert_eq!(only(src), "3:1: unknown key \"algoritm\" in [[pool]]");
    let h = hint(src);
    assert!(
        h.starts_with("did you mean \"algorithm\"? [[pool]] takes: name, algorithm, hash_key"),
        "{h}"
    );
}

#[test]
fn unknown_key_in_an_inline_table_names_the_table() {
    let src = format!("{POOL}[[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:80\"\npool = \"app\"\ntimeouts = {{ conect = \"5s\" }}\n");
    assert_eq!(
        only(&src),
        "11:14: unknown key \"conect\" in timeouts in [[listener]]"
    );
    assert!(hint(&src).starts_with("did you mean \"connect\"?"));
}

#[test]
fn missing_required_key_is_named() {
    let e = only("[[pool]]\nalgorithm = \"random\"\n");
    assert!(
        e.ends_with("missing required key \"name\" in [[pool]]"),
        "{e}"
    );
}

#[test]
fn single_bracket_array_table_is_explained() {
    assert_eq!(
        only("[pool]\nname = \"x\"\n"),
        "1:1: [pool] must be written [[pool]]: there can be several"
    );
}

#[test]
fn integer_duration_hints_the_unit() {
    let src = format!("{POOL}[pool.health]\ninterval = 2\n");
    assert_eq!(
        only(&src),
        "7:12: interval must be a string, not integer `2` (in [pool.health])"
    );
    assert_eq!(hint(&src), "durations are strings with a unit, e.g. \"2s\"");
}

#[test]
fn invalid_names_are_rejected_with_a_suggestion() {
    let src =
        "[[pool]]\nname = \"My Pool\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n";
    assert_eq!(only(src), "2:8: invalid pool name \"My Pool\"");
    assert!(hint(src).ends_with("e.g. \"my_pool\""));
}

#[test]
fn duplicate_pool_names_point_at_the_first() {
    let src = format!("{POOL}{POOL}");
    assert_eq!(
        only(&src),
        "7:8: duplicate pool name \"app\" (first defined at lb.toml:2:8)"
    );
}

#[test]
fn duplicate_server_names_within_a_pool() {
    let src = format!("{POOL}[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:9002\"\n");
    assert_eq!(
        only(&src),
        "7:8: duplicate server name \"a\" (first defined at lb.toml:4:8)"
    );
}

#[test]
fn unknown_algorithm_lists_every_algorithm() {
    let src = "[[pool]]\nname = \"app\"\nalgorithm = \"fastest\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n";
    assert_eq!(
        only(src),
        "3:13: unknown algorithm \"fastest\"; expected one of round_robin, weighted_round_robin, \
         least_connections, weighted_least_connections, random, power_of_two, peak_ewma, ring_hash, maglev"
    );
    let src = src.replace("fastest", "round_robbin");
    assert_eq!(hint(&src), "did you mean \"round_robin\"?");
}

#[test]
fn invalid_hash_key_lists_the_forms() {
    let src = POOL.replace("name = \"app\"\n", "name = \"app\"\nhash_key = \"body\"\n");
    assert_eq!(
        only(&src),
        "3:12: invalid hash_key \"body\"; expected one of source_ip, connection, header:NAME, cookie:NAME, query:NAME, path, host"
    );
}

#[test]
fn maglev_table_size_must_be_prime() {
    let src = POOL.replace(
        "name = \"app\"\n",
        "name = \"app\"\nmaglev_table_size = 65536\n",
    );
    assert_eq!(only(&src), "3:21: maglev_table_size 65536 is not a prime");
    assert_eq!(hint(&src), "try 65537");
}

#[test]
fn weight_out_of_range() {
    let src = format!("{POOL}weight = 0\n");
    assert_eq!(only(&src), "6:10: weight 0 is out of range 1..=1000");
}

#[test]
fn rise_and_fall_must_be_at_least_one() {
    let src = format!("{POOL}[pool.health]\nrise = 0\nfall = -1\n");
    let errs = errors(&src);
    assert_eq!(errs[0].message, "health rise 0 is out of range 1..=1000");
    assert_eq!((errs[1].line, errs[1].col), (8, 8));
}

#[test]
fn health_timeout_must_be_shorter_than_interval() {
    let src = format!("{POOL}[pool.health]\ninterval = \"1s\"\ntimeout = \"2s\"\n");
    assert_eq!(
        only(&src),
        "8:11: health timeout 2s must be shorter than interval 1s"
    );
}

#[test]
fn a_misspelt_check_kind_is_one_error_not_one_per_http_key() {
    let src = format!(
        "{POOL}[pool.health]\ncheck = \"htp\"\npath = \"/health\"\nexpect_status = \"200\"\nservice = \"x\"\n"
    );
    assert_eq!(
        only(&src),
        "7:9: unknown health check \"htp\"; expected one of tcp, http, grpc, none"
    );
    assert_eq!(hint(&src), "did you mean \"http\"?");
}

#[test]
fn http_only_health_keys_need_an_http_check() {
    let src = format!("{POOL}[pool.health]\ncheck = \"tcp\"\npath = \"/health\"\n");
    assert_eq!(
        only(&src),
        "8:8: health path applies only to check = \"http\""
    );
}

#[test]
fn invalid_durations_say_which_units_exist() {
    let src = format!("{POOL}[pool.outlier]\nbase_ejection = \"5 sec\"\n");
    assert_eq!(
        only(&src),
        "7:17: invalid duration \"5 sec\" for outlier base_ejection"
    );
    assert!(hint(&src).starts_with("use a number with a unit: ms, s, m, h, d"));
}

#[test]
fn ipv6_addresses_need_brackets() {
    let src = POOL.replace("127.0.0.1:9001", "::1:9001");
    assert_eq!(only(&src), "5:11: invalid server address \"::1:9001\"");
    assert_eq!(
        hint(&src),
        "write IPv6 addresses in brackets: \"[::1]:8080\""
    );
}

#[test]
fn header_affinity_needs_a_header() {
    let src = format!("{POOL}[pool.affinity]\nkind = \"header\"\n");
    assert_eq!(only(&src), "7:8: affinity kind \"header\" needs a header");
}

fn listener(proto: &str, extra: &str) -> String {
    format!("{POOL}[[listener]]\nname = \"web\"\nprotocol = \"{proto}\"\nlisten = \"127.0.0.1:8080\"\n{extra}")
}

#[test]
fn undefined_route_pool_lists_the_pools() {
    let src = listener(
        "http",
        "pool = \"app\"\n[[listener.route]]\npool = \"nowhere\"\n",
    );
    assert_eq!(
        only(&src),
        "12:8: route pool \"nowhere\" is not defined; pools are: app"
    );
}

#[test]
fn undefined_listener_pool_suggests_a_near_name() {
    let src = listener("tcp", "pool = \"ap\"\n");
    assert_eq!(
        only(&src),
        "10:8: listener \"web\" pool \"ap\" is not defined; pools are: app"
    );
    assert_eq!(hint(&src), "did you mean \"app\"?");
}

#[test]
fn l4_listeners_need_a_default_pool() {
    assert_eq!(
        only(&listener("udp", "")),
        "7:8: udp listener \"web\" needs a pool"
    );
    // tcp and udp listeners have no routes: the hint does not mention them.
    assert_eq!(
        hint(&listener("tcp", "")),
        "add pool = \"NAME\" (the pool every connection or flow goes to)"
    );
}

#[test]
fn listen_addresses_must_not_overlap() {
    let src = listener("http", "pool = \"app\"\n")
        + "[[listener]]\nname = \"web2\"\nprotocol = \"tcp\"\nlisten = \"0.0.0.0:8080\"\npool = \"app\"\n";
    assert_eq!(
        only(&src),
        "14:10: listener \"web2\" listens on 0.0.0.0:8080 which listener \"web\" already uses (at lb.toml:9:10)"
    );
    // UDP and TCP on one port do not conflict.
    let ok = src.replace("protocol = \"tcp\"", "protocol = \"udp\"");
    assert!(parse(&ok, "lb.toml").is_ok());
}

#[test]
fn keys_of_another_protocol_are_rejected() {
    let src = listener("http", "pool = \"app\"\nproxy_protocol = \"v2\"\n");
    assert_eq!(
        only(&src),
        "11:18: proxy_protocol applies only to tcp and tls listeners, not http"
    );
}

#[test]
fn splice_applies_to_tcp_and_tls_listeners_only() {
    let src = listener("udp", "pool = \"app\"\nsplice = false\n");
    assert_eq!(
        only(&src),
        "11:10: splice applies only to tcp and tls listeners, not udp"
    );
    for proto in ["tcp", "tls"] {
        let ok = listener(proto, "pool = \"app\"\nsplice = false\n");
        assert!(parse(&ok, "lb.toml").is_ok(), "{proto}");
    }
}

/// `timeouts.backend` or `request_header` on a tcp, tls or udp listener (and `connect` or
/// `handshake` on udp) passed check and bounded nothing: a user who wrote
/// `backend = "30s"` on a tcp listener expecting a response timeout got none.
#[test]
fn timeouts_that_l4_listeners_never_use_are_rejected() {
    let src = listener("tcp", "pool = \"app\"\ntimeouts = { backend = \"30s\" }\n");
    assert_eq!(
        only(&src),
        "11:24: timeouts.backend applies only to http and https listeners, not tcp"
    );
    assert_eq!(
        hint(&src),
        "an L4 connection or flow with no byte either way is closed after timeouts.idle"
    );
    let src = listener(
        "tls",
        "pool = \"app\"\ntimeouts = { request_header = \"5s\" }\n",
    );
    assert_eq!(
        only(&src),
        "11:31: timeouts.request_header applies only to http and https listeners, not tls"
    );
    let src = listener("udp", "pool = \"app\"\ntimeouts = { connect = \"1s\" }\n");
    assert_eq!(
        only(&src),
        "11:24: timeouts.connect does not apply to udp listeners"
    );
    let ok = listener(
        "tcp",
        "pool = \"app\"\ntimeouts = { connect = \"1s\", idle = \"5s\", handshake = \"2s\" }\n",
    );
    assert!(parse(&ok, "lb.toml").is_ok());
    let ok = listener("udp", "pool = \"app\"\ntimeouts = { idle = \"5s\" }\n");
    assert!(parse(&ok, "lb.toml").is_ok());
}

/// `max_connections` on a udp or dns listener passed check and bounded nothing (udp
/// listeners have `max_flows`, dns ones `max_tcp_connections`).
#[test]
fn max_connections_is_rejected_where_nothing_reads_it() {
    let src = listener("udp", "pool = \"app\"\nmax_connections = 5\n");
    assert_eq!(
        only(&src),
        "11:19: max_connections applies only to http, https, tcp and tls listeners, not udp"
    );
    assert_eq!(hint(&src), "use max_flows to bound a udp listener's flows");
    let src = listener("dns", "max_connections = 5\n");
    assert_eq!(
        only(&src),
        "10:19: max_connections applies only to http, https, tcp and tls listeners, not dns"
    );
    assert_eq!(
        hint(&src),
        "use max_tcp_connections to bound a dns listener's TCP connections"
    );
    for proto in ["http", "tcp", "tls"] {
        let ok = listener(proto, "pool = \"app\"\nmax_connections = 5\n");
        assert!(parse(&ok, "lb.toml").is_ok(), "{proto}");
    }
}

#[test]
fn l4_listener_cannot_hash_on_http_values() {
    let src = POOL.replace("name = \"app\"\n", "name = \"app\"\nalgorithm = \"maglev\"\nhash_key = \"header:x-user\"\n")
        + "[[listener]]\nname = \"db\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:5432\"\npool = \"app\"\n";
    assert_eq!(
        only(&src),
        "9:8: tcp listener \"db\" uses pool \"app\", which hashes on header:x-user, a value only HTTP listeners see"
    );
    // `host` is the SNI name to a tls listener: the message said only HTTP saw it.
    let src = src.replace("header:x-user", "host");
    assert_eq!(
        only(&src),
        "9:8: tcp listener \"db\" uses pool \"app\", which hashes on host, a value only http, https and tls listeners see"
    );
    assert_eq!(hint(&src), "use hash_key = \"source_ip\" or \"connection\"");
}

#[test]
fn path_regex_errors_show_the_regex_error() {
    let src = listener(
        "http",
        "pool = \"app\"\n[[listener.route]]\npath_regex = \"^/(u\"\n",
    );
    assert_eq!(
        only(&src),
        "12:14: invalid path_regex \"^/(u\": unclosed group"
    );
}

#[test]
fn route_takes_one_action() {
    let src = listener(
        "http",
        "[[listener.route]]\npool = \"app\"\nredirect = \"https://{host}{path}\"\n",
    );
    assert_eq!(
        only(&src),
        "12:12: a route takes only one of pool, redirect, respond (it has pool and redirect)"
    );
}

#[test]
fn redirect_placeholders_and_status_are_checked() {
    let src = listener("http", "pool = \"app\"\n[[listener.route]]\nredirect = \"https://{hots}/\"\nredirect_status = 200\n");
    let errs = errors(&src);
    assert_eq!(
        errs[0].message,
        "unknown placeholder {hots} in redirect \"https://{hots}/\""
    );
    assert_eq!(
        errs[1].message,
        "redirect_status 200 is not a redirect; use 301, 302, 303, 307 or 308"
    );
    assert_eq!((errs[1].line, errs[1].col), (13, 19));
}

#[test]
fn https_needs_a_certificate() {
    let src = listener("https", "pool = \"app\"\n");
    assert_eq!(
        only(&src),
        "7:8: https listener \"web\" needs [listener.tls] with at least one certificate"
    );
}

#[test]
fn missing_certificate_file_is_located_on_cert() {
    let key = data("a.key");
    let src = listener("https", &format!("pool = \"app\"\n[listener.tls]\ncertificates = [{{ cert = \"/nonexistent/a.pem\", key = \"{key}\" }}]\n"));
    assert_eq!(
        only(&src),
        "12:26: cannot read certificate file \"/nonexistent/a.pem\": No such file or directory (os error 2)"
    );
}

#[test]
fn unparsable_key_is_located_on_key() {
    let (cert, key) = (data("a.pem"), data("garbage.key"));
    let src = listener("https", &format!("pool = \"app\"\n[listener.tls]\ncertificates = [{{ cert = \"{cert}\", key = \"{key}\" }}]\n"));
    let e = only(&src);
    let col = 26 + cert.len() + 10;
    assert_eq!(
        e,
        format!("12:{col}: no private key found in key file \"{key}\"")
    );
}

#[test]
fn key_of_another_certificate_is_rejected() {
    let (cert, key) = (data("a.pem"), data("b.key"));
    let src = listener("https", &format!("pool = \"app\"\n[listener.tls]\ncertificates = [{{ cert = \"{cert}\", key = \"{key}\" }}]\n"));
    assert!(only(&src).contains(&format!(
        "key \"{key}\" does not belong to certificate \"{cert}\""
    )));
}

#[test]
fn certificate_keys_in_every_pem_form_load() {
    for (cert, key) in [
        ("a.pem", "a.key"),
        ("a.pem", "a-sec1.key"),
        ("rsa.pem", "rsa.key"),
        ("rsa.pem", "rsa-pkcs1.key"),
    ] {
        let src = listener(
            "https",
            &format!("pool = \"app\"\n[listener.tls]\ncertificates = [{{ cert = \"{}\", key = \"{}\" }}]\n", data(cert), data(key)),
        );
        parse(&src, "lb.toml").unwrap_or_else(|e| panic!("{cert} {key}: {e}"));
    }
}

#[test]
fn relative_certificate_paths_resolve_against_the_config_file() {
    let src = listener("https", "pool = \"app\"\n[listener.tls]\ncertificates = [{ cert = \"certs/a.pem\", key = \"certs/a.key\" }]\n");
    let file = format!("{}/tests/data/inline.toml", env!("CARGO_MANIFEST_DIR"));
    parse(&src, &file).unwrap_or_else(|e| panic!("{e}"));
    assert!(parse(&src, "elsewhere/lb.toml").is_err());
}

const ZONE: &str = "[[zone]]\nname = \"example.com\"\nns = [\"ns1\"]\n";

/// A dot before the `@` of an SOA contact cannot be written as one label here; it was
/// served as a different mailbox (john.doe@example.com as john@doe.example.com).
#[test]
fn a_contact_mailbox_with_a_dot_is_refused() {
    let src = format!("{ZONE}[zone.soa]\ncontact = \"john.doe@example.com\"\n");
    let e = &errors(&src)[0];
    assert!(e.message.contains("john.doe"), "{e}");
    assert!(
        e.hint.as_deref().unwrap_or("").contains("hostmaster@"),
        "{e:?}"
    );
}

#[test]
fn a_records_take_ipv4() {
    let src = format!(
        "{ZONE}[[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"2001:db8::1\"]\n"
    );
    assert_eq!(
        only(&src),
        "7:11: A record value \"2001:db8::1\" is not an IPv4 address"
    );
    assert_eq!(hint(&src), "this is an IPv6 address: use type = \"AAAA\"");
}

#[test]
fn record_values_are_parsed_per_type() {
    let src =
        format!("{ZONE}[[zone.record]]\nname = \"@\"\ntype = \"MX\"\nvalues = [\"ten mail\"]\n");
    assert_eq!(only(&src), "7:11: invalid MX preference in \"ten mail\"");
}

#[test]
fn record_names_must_be_dns_labels() {
    let src =
        format!("{ZONE}[[zone.record]]\nname = \"bad name\"\ntype = \"TXT\"\nvalues = [\"x\"]\n");
    assert_eq!(
        only(&src),
        "5:8: invalid record name \"bad name\" in zone \"example.com\""
    );
}

#[test]
fn wildcard_record_names_take_star_as_the_first_label_only() {
    let ok = format!(
        "{ZONE}[[zone.record]]\nname = \"*.www\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n"
    );
    let c = parse(&ok, "lb.toml").expect("a wildcard record is valid");
    assert_eq!(c.zones[0].records[0].owner, "*.www.example.com");
    let src =
        format!("{ZONE}[[zone.record]]\nname = \"a.*\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n");
    assert_eq!(
        only(&src),
        "5:8: invalid record name \"a.*\" in zone \"example.com\""
    );
}

#[test]
fn wildcard_cannot_hold_ns_records() {
    let src = format!("{ZONE}[[zone.record]]\nname = \"*\"\ntype = \"NS\"\nvalues = [\"ns2\"]\n");
    assert_eq!(
        only(&src),
        "6:8: \"*\" is a wildcard: a wildcard cannot hold NS records (RFC 4592 4.2), delegate a named subdomain instead"
    );
}

#[test]
fn unknown_record_type_lists_types() {
    let src = format!("{ZONE}[[zone.record]]\nname = \"x\"\ntype = \"PTR\"\nvalues = [\"x\"]\n");
    assert_eq!(
        only(&src),
        "6:8: unknown record type \"PTR\"; expected one of A, AAAA, CNAME, TXT, MX, SRV, CAA, NS"
    );
}

#[test]
fn undefined_record_pool() {
    let src =
        format!("{POOL}{ZONE}[[zone.record]]\nname = \"app\"\ntype = \"A\"\npool = \"nope\"\n");
    assert_eq!(
        only(&src),
        "12:8: record pool \"nope\" is not defined; pools are: app"
    );
}

#[test]
fn balanced_aaaa_needs_ipv6_servers() {
    let src =
        format!("{POOL}{ZONE}[[zone.record]]\nname = \"app\"\ntype = \"AAAA\"\npool = \"app\"\n");
    assert_eq!(
        only(&src),
        "12:8: balanced AAAA record needs a pool with IPv6 servers; pool \"app\" has none"
    );
}

#[test]
fn cname_must_be_alone() {
    let src = format!(
        "{ZONE}[[zone.record]]\nname = \"www\"\ntype = \"CNAME\"\nvalues = [\"x\"]\n[[zone.record]]\nname = \"www\"\ntype = \"TXT\"\nvalues = [\"y\"]\n"
    );
    assert_eq!(
        only(&src),
        "5:8: \"www\" has a CNAME and a TXT record; a CNAME must be alone"
    );
}

#[test]
fn a_value_listed_twice_in_one_record_is_refused() {
    // it was answered twice in one RRset
    let src = format!(
        "{ZONE}[[zone.record]]\nname = \"www\"\ntype = \"AAAA\"\nvalues = [\"2001:db8::1\", \"2001:DB8:0::1\"]\n"
    );
    assert_eq!(
        only(&src),
        "7:26: AAAA value \"2001:DB8:0::1\" is listed twice"
    );
}

#[test]
fn record_names_too_long_or_outside_the_zone_say_so() {
    let rec = |name: &str| {
        format!(
            "{ZONE}[[zone.record]]\nname = \"{name}\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n"
        )
    };
    let long = "x".repeat(64);
    assert_eq!(
        only(&rec(&long)),
        format!(
            "5:8: invalid record name \"{long}\" in zone \"example.com\": \
             the label \"{long}\" has 64 characters, at most 63"
        )
    );
    let deep = vec!["a".repeat(60); 4].join(".");
    assert!(
        only(&rec(&deep)).ends_with(": with the zone it has 255 characters, at most 253"),
        "{}",
        only(&rec(&deep))
    );
    assert!(only(&rec("www.other.org.")).ends_with(": \"www.other.org.\" is outside the zone"));
    assert!(only(&rec("bad name")).ends_with("in zone \"example.com\""));
}

#[test]
fn an_invalid_zone_name_is_one_error_not_one_per_name_in_the_zone() {
    // "ns1", the SOA names and every record were reported invalid too, relative to it
    let src = "[[zone]]\nname = \"exa mple.com\"\nns = [\"ns1\"]\n[zone.soa]\nprimary = \"ns1\"\n\
               [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n";
    assert_eq!(only(src), "2:8: invalid zone name \"exa mple.com\"");
    // the zone's own mistakes are still reported with it
    let src = src.replace("values = [\"192.0.2.1\"]", "values = [\"192.0.2\"]");
    assert_eq!(errors(&src).len(), 2, "{:#?}", errors(&src));
}

#[test]
fn an_rrset_too_large_for_any_dns_message_is_refused() {
    // 20 TXT values of 4000 bytes: every answer, even over TCP, was an empty one with TC
    let values: Vec<String> = (0..20)
        .map(|i| format!("\"{}\"", "x".repeat(3980 + i)))
        .collect();
    let src = format!(
        "{ZONE}[[zone.record]]\nname = \"big\"\ntype = \"TXT\"\nvalues = [{}]\n",
        values.join(", ")
    );
    let e = only(&src);
    assert!(
        e.starts_with("7:10: these TXT values take ")
            && e.ends_with("bytes on the wire, more than one DNS message can carry (65229)"),
        "{e}"
    );
    assert_eq!(hint(&src), "spread them over several names");
    // 16 of them fit
    let src = format!(
        "{ZONE}[[zone.record]]\nname = \"big\"\ntype = \"TXT\"\nvalues = [{}]\n",
        values[..16].join(", ")
    );
    assert!(parse(&src, "lb.toml").is_ok());
}

#[test]
fn cname_loops_are_refused_once_with_their_path() {
    let cname = |name: &str, target: &str| {
        format!("[[zone.record]]\nname = \"{name}\"\ntype = \"CNAME\"\nvalues = [\"{target}\"]\n")
    };
    let src = format!(
        "{ZONE}{}{}{}{}",
        cname("a", "b"),
        cname("b", "c"),
        cname("c", "a"),
        cname("d", "a")
    );
    assert_eq!(
        only(&src),
        "5:8: CNAME loop: a.example.com -> b.example.com -> c.example.com -> a.example.com"
    );
    assert_eq!(
        hint(&src),
        "point one of these CNAMEs at a name with addresses"
    );
    let src = format!("{ZONE}{}", cname("self", "self"));
    assert_eq!(
        only(&src),
        "5:8: CNAME loop: self.example.com -> self.example.com"
    );
    let src = format!(
        "{ZONE}{}{}",
        cname("a", "b"),
        cname("b", "www.example.net.")
    );
    assert!(
        parse(&src, "lb.toml").is_ok(),
        "a chain out of the zone is fine"
    );
}

const DC: &str = "[[datacenter]]\nname = \"tokyo\"\nlatitude = 35.6\nlongitude = 139.7\naddresses = [\"2001:db8::30\"]\n";

#[test]
fn geo_datacenters_listed_twice_are_refused() {
    // London twice with max_answers = 2 answered London's address twice in one RRset
    let db = geoip("GeoLite2-City-Test.mmdb");
    let src = format!(
        "{DC}[geoip]\ndatabase = \"{db}\"\n{ZONE}[[zone.record]]\nname = \"g\"\ntype = \"AAAA\"\npolicy = \"geo\"\ndatacenters = [\"tokyo\", \"tokyo\"]\nmax_answers = 2\n"
    );
    assert_eq!(
        only(&src),
        "15:25: datacenter \"tokyo\" is listed twice in datacenters"
    );
    let src = format!(
        "{DC}[geoip]\ndatabase = \"{db}\"\n{ZONE}[[zone.record]]\nname = \"g\"\ntype = \"AAAA\"\npolicy = \"geo\"\ndatacenters = [\"tokyo\"]\ndefault_order = [\"tokyo\", \"tokyo\"]\n"
    );
    assert_eq!(
        only(&src),
        "16:27: datacenter \"tokyo\" is listed twice in default_order"
    );
}

#[test]
fn geo_records_need_geoip() {
    let src = format!("{DC}{ZONE}[[zone.record]]\nname = \"g\"\ntype = \"AAAA\"\npolicy = \"geo\"\ndatacenters = [\"tokyo\"]\n");
    assert_eq!(only(&src), "12:10: geo records need a [geoip] database");
}

#[test]
fn geo_datacenters_need_addresses_of_the_record_type() {
    let db = geoip("GeoLite2-City-Test.mmdb");
    let src = format!(
        "{DC}[geoip]\ndatabase = \"{db}\"\n{ZONE}[[zone.record]]\nname = \"g\"\ntype = \"A\"\npolicy = \"geo\"\ndatacenters = [\"tokyo\", \"osaka\"]\n"
    );
    let errs = errors(&src);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(
        errs[0].message,
        "datacenter \"tokyo\" has no IPv4 address for this A record"
    );
    assert_eq!(
        errs[1].message,
        "datacenter \"osaka\" is not defined; datacenters are: tokyo"
    );
    assert_eq!((errs[1].line, errs[1].col), (15, 25));
}

#[test]
fn broken_geoip_double_format_is_a_clear_error() {
    let db = geoip("GeoIP2-City-Test-Broken-Double-Format.mmdb");
    let e = only(&format!("[geoip]\ndatabase = \"{db}\"\n"));
    assert!(
        e.starts_with(&format!("2:12: GeoIP database \"{db}\" is corrupt: ")),
        "{e}"
    );
}

#[test]
fn broken_geoip_search_tree_is_a_clear_error() {
    let db = geoip("MaxMind-DB-test-broken-search-tree-24.mmdb");
    let e = only(&format!("[geoip]\ndatabase = \"{db}\"\n"));
    assert!(
        e.starts_with(&format!("2:12: GeoIP database \"{db}\" is corrupt: ")),
        "{e}"
    );
    assert!(e.contains("search tree"), "{e}");
}

#[test]
fn missing_geoip_database_is_located() {
    let e = only("[geoip]\ndatabase = \"/nonexistent.mmdb\"\n");
    assert!(
        e.starts_with("2:12: cannot open GeoIP database \"/nonexistent.mmdb\""),
        "{e}"
    );
}

#[test]
fn geoip_country_database_is_accepted() {
    let db = geoip("GeoLite2-Country-Test.mmdb");
    parse(&format!("[geoip]\ndatabase = \"{db}\"\n"), "lb.toml").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn anycast_prefix_and_pools_are_checked() {
    let src = "[anycast]\n[[anycast.announce]]\nprefix = \"203.0.113.10\"\nbird_protocol = \"vip\"\npools = [\"app\"]\n";
    let errs = errors(src);
    assert_eq!(errs[0].message, "invalid anycast prefix \"203.0.113.10\"");
    assert_eq!(
        errs[0].hint.as_deref(),
        Some("a single address is \"203.0.113.10/32\"")
    );
    assert_eq!(
        errs[1].message,
        "anycast pool \"app\" is not defined; no pools are defined"
    );
    assert_eq!((errs[1].line, errs[1].col), (5, 10));
}

#[test]
fn three_different_errors_are_all_reported_in_file_order() {
    let src = "[[pool]]\nname = \"app\"\nalgorithm = \"fastest\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\nweight = 5000\n\
               [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:80\"\npool = \"nowhere\"\n";
    let shown: Vec<String> = errors(src)
        .iter()
        .map(|e| format!("{}:{}", e.line, e.col))
        .collect();
    assert_eq!(shown, ["3:13", "7:10", "12:8"]);
    let text = switchyard_config::parse(src, "lb.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("lb.toml:")).count(),
        3,
        "{text}"
    );
}

#[test]
fn device_files_are_not_read_as_certificates() {
    let src = listener("https", "pool = \"app\"\n[listener.tls]\ncertificates = [{ cert = \"/dev/zero\", key = \"/dev/zero\" }]\n");
    let errs = errors(&src);
    assert_eq!(
        errs[0].message,
        "certificate file \"/dev/zero\" is not a regular file"
    );
    let e = only("[geoip]\ndatabase = \"/dev\"\n");
    assert_eq!(e, "2:12: GeoIP database \"/dev\" is not a regular file");
}

#[test]
fn hash_balance_factor_takes_a_factor_or_a_percent() {
    for (written, percent) in [("1.25", 125), ("125", 125), ("2", 200)] {
        let src = POOL.replace(
            "name = \"app\"\n",
            &format!("name = \"app\"\nhash_balance_factor = {written}\n"),
        );
        let c = parse(&src, "lb.toml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.pools[0].params.hash_balance_factor,
            Some(percent),
            "{written}"
        );
    }
    let src = POOL.replace(
        "name = \"app\"\n",
        "name = \"app\"\nhash_balance_factor = 0.9\n",
    );
    assert_eq!(
        only(&src),
        "3:23: hash_balance_factor 0.9 must be above 1.0"
    );
    // 100 is 100 percent, a factor of exactly 1.0; 1.001 rounds to it.
    for written in ["100", "1.001", "100.4"] {
        let src = POOL.replace(
            "name = \"app\"\n",
            &format!("name = \"app\"\nhash_balance_factor = {written}\n"),
        );
        assert_eq!(
            only(&src),
            format!("3:23: hash_balance_factor {written} must be above 1.0")
        );
    }
}

/// `switchyard check` passed `ewma_decay = "0s"`, which `switchyard run` then refused.
#[test]
fn ewma_decay_must_be_above_zero() {
    let src = POOL.replace(
        "name = \"app\"\n",
        "name = \"app\"\nalgorithm = \"peak_ewma\"\newma_decay = \"0s\"\n",
    );
    assert_eq!(only(&src), "4:14: ewma_decay must be above zero");
}

#[test]
fn unreadable_file_names_the_file() {
    let e = switchyard_config::load("/nonexistent/lb.toml").unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/lb.toml: cannot read the configuration file: "),
        "{e}"
    );
}

#[test]
fn dns_listeners_take_no_pool() {
    let src = listener("dns", "pool = \"app\"\n");
    assert_eq!(
        only(&src),
        "10:8: dns listeners answer from [[zone]]; pool does not apply"
    );
}

#[test]
fn unknown_keys_wrong_types_and_semantic_errors_are_reported_together() {
    let src = "[[pool]]\nname = \"app\"\nalgoritm = \"random\"\n[pool.helth]\ninterval = \"1s\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\nweight = \"heavy\"\n\
               [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:80\"\npool = \"nowhere\"\n";
    let errs = errors(src);
    let shown: Vec<String> = errs
        .iter()
        .map(|e| format!("{}:{}: {}", e.line, e.col, e.message))
        .collect();
    assert_eq!(
        shown,
        [
            "3:1: unknown key \"algoritm\" in [[pool]]",
            "4:7: unknown key \"helth\" in [pool.helth]",
            "9:10: weight must be an integer, not string \"heavy\" (in [[pool.server]])",
            "14:8: listener \"web\" pool \"nowhere\" is not defined; pools are: app",
        ]
    );
}

#[test]
fn a_multi_line_unknown_key_is_removed_whole_and_validation_goes_on() {
    // Blanking the unknown key (all of its multi-line value) must not produce
    // follow-on syntax errors of its own.
    let src = "[[pool]]\nname = \"app\"\nservers = [\n  1,\n]\n";
    let errs = errors(src);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(errs[0].message, "pool \"app\" has no servers");
    assert_eq!(errs[1].message, "unknown key \"servers\" in [[pool]]");
}

#[test]
fn outside_name_server_without_trailing_dot_is_caught() {
    let src =
        "[[zone]]\nname = \"example.com\"\nns = [\"ns1.example.com\", \"ns.dnsprovider.net\"]\n";
    assert_eq!(
        only(src),
        "3:26: \"ns.dnsprovider.net\" would be read as \"ns.dnsprovider.net.example.com\" \
         (names without a trailing dot are relative to the zone)"
    );
    assert_eq!(
        hint(src),
        "for a name outside the zone write \"ns.dnsprovider.net.\""
    );
    let ok = src.replace("dnsprovider.net\"", "dnsprovider.net.\"");
    let c = parse(&ok, "lb.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.zones[0].ns, ["ns1.example.com", "ns.dnsprovider.net"]);
}

#[test]
fn wrong_types_name_the_key_in_operator_words() {
    let src = format!("{POOL}backup = \"yes\"\n");
    assert_eq!(
        only(&src),
        "6:10: backup must be true or false, not string \"yes\" (in [[pool.server]])"
    );
    let src = listener("http", "pool = \"app\"\ntimeouts = { connect = 5 }\n");
    assert_eq!(
        only(&src),
        "11:24: connect must be a string, not integer `5` (in timeouts in [[listener]])"
    );
}

#[test]
fn workers_must_be_between_1_and_1024() {
    assert_eq!(
        only(&format!("[global]\nworkers = 0\n{POOL}")),
        "2:11: workers 0 is out of range 1..=1024"
    );
    let config = parse(&format!("[global]\nworkers = 1\n{POOL}"), "lb.toml").unwrap();
    assert_eq!(config.global.workers, Some(1));
    let config = parse(POOL, "lb.toml").unwrap();
    assert_eq!(config.global.workers, None);
}

#[test]
fn a_head_health_check_cannot_expect_a_body() {
    let src =
        format!("{POOL}[pool.health]\ncheck = \"http\"\nmethod = \"HEAD\"\nexpect_body = \"ok\"\n");
    assert_eq!(
        only(&src),
        "9:15: health expect_body cannot be checked with method = \"HEAD\" (a HEAD answer has no body)"
    );
    assert_eq!(hint(&src), "remove expect_body, or use method = \"GET\"");
    // Lowercase is the same method; GET with a body expectation is fine.
    assert!(errors(&src.replace("HEAD", "head")).len() == 1);
    assert!(parse(&src.replace("HEAD", "GET"), "lb.toml").is_ok());
}

#[test]
fn a_file_that_is_not_utf8_is_located_at_its_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lb.toml");
    // A Latin-1 "é" in a comment on line 3.
    std::fs::write(&path, b"[[pool]]\nname = \"app\"\n# caf\xe9\n").unwrap();
    let errs = switchyard_config::load(&path).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(
        format!("{}:{}: {}", errs[0].line, errs[0].col, errs[0].message),
        "3:6: the file is not valid UTF-8 (byte 0xE9); TOML files must be UTF-8"
    );
    assert!(errs[0].hint.as_deref().unwrap().contains("iconv"));
}

#[test]
fn respond_needs_a_final_status_and_no_body_where_http_has_none() {
    // A 1xx is not an answer (curl waited for the real one, or switched protocols on 101),
    // and a body after 204 or 304 was read by clients as the start of the next response.
    let src = listener(
        "http",
        "pool = \"app\"\n[[listener.route]]\npath = \"/a\"\nrespond = { status = 101, body = \"x\" }\n[[listener.route]]\npath = \"/b\"\nrespond = { status = 204, body = \"gone\" }\n[[listener.route]]\npath = \"/c\"\nrespond = { status = 304, body = \"same\" }\n[[listener.route]]\npath = \"/d\"\nrespond = { status = 600 }\n",
    );
    let errs: Vec<String> = errors(&src).into_iter().map(|e| e.message).collect();
    assert_eq!(
        errs,
        [
            "respond status 101 is informational, not an answer",
            "a 204 answer has no body, but respond has one",
            "a 304 answer has no body, but respond has one",
            "respond status 600 is out of range 200..=599",
        ]
    );
    let fine = listener(
        "http",
        "pool = \"app\"\n[[listener.route]]\npath = \"/a\"\nrespond = { status = 204 }\n",
    );
    assert!(switchyard_config::parse(&fine, "lb.toml").is_ok());
}

#[test]
fn a_route_forwarding_to_the_default_pool_may_rewrite() {
    // Without its own pool a route forwards to the listener's: strip_prefix, set_headers
    // and remove_headers were refused there as if it answered by itself.
    let src = listener(
        "http",
        "pool = \"app\"\n[[listener.route]]\npath_prefix = \"/api\"\nstrip_prefix = true\nset_headers = { \"x-env\" = \"prod\" }\nremove_headers = [\"x-debug\"]\n",
    );
    let config = switchyard_config::parse(&src, "lb.toml").expect("valid");
    let route = match &config.listeners[0].kind {
        switchyard_config::ListenerKind::Http { routes } => &routes[0],
        _ => unreachable!(),
    };
    assert_eq!(
        route.action,
        switchyard_config::RouteAction::Forward {
            pool: "app".into(),
            strip_prefix: true,
            set_headers: vec![("x-env".into(), "prod".into())],
            remove_headers: vec!["x-debug".into()],
        }
    );
    // A route that answers by itself still may not.
    let src = listener(
        "http",
        "pool = \"app\"\n[[listener.route]]\npath = \"/x\"\nrespond = { status = 200 }\nset_headers = { \"x-env\" = \"prod\" }\n",
    );
    assert_eq!(
        only(&src),
        "14:15: set_headers applies only to routes that forward to a pool"
    );
}

#[test]
fn set_headers_values_a_header_cannot_carry_are_refused() {
    // `switchyard check` said valid, and `run` then refused to start.
    let src = listener(
        "http",
        "pool = \"app\"\n[[listener.route]]\npath_prefix = \"/a\"\nset_headers = { \"x-ctl\" = \"a\\u0001b\", \"x-utf\" = \"café\", \"x-ok\" = \"a\\tb c\" }\n",
    );
    let errs: Vec<String> = errors(&src).into_iter().map(|e| e.message).collect();
    assert_eq!(
        errs,
        [
            "set_headers value for \"x-ctl\" has a character a header cannot carry: \"a\\u{1}b\"",
            "set_headers value for \"x-utf\" has a character a header cannot carry: \"café\"",
        ]
    );
}

#[test]
fn routes_may_not_set_or_remove_framing_and_connection_fields() {
    // A set Content-Length or Transfer-Encoding left the server waiting for a body; a
    // removed Content-Length left the body on the server connection as the next request.
    let src = listener(
        "http",
        "pool = \"app\"\n[[listener.route]]\npath_prefix = \"/a\"\nset_headers = { \"Transfer-Encoding\" = \"chunked\", \"x-env\" = \"prod\" }\nremove_headers = [\"Content-Length\", \"x-debug\"]\n",
    );
    let errs = errors(&src);
    let msgs: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "set_headers cannot name \"transfer-encoding\": switchyard sets it for each connection",
            "remove_headers cannot name \"content-length\": switchyard sets it for each connection",
        ]
    );
    assert_eq!((errs[1].line, errs[1].col), (14, 19));
    assert_eq!(
        errs[1].hint.as_deref(),
        Some("remove \"content-length\" from remove_headers")
    );
}

#[test]
fn alpn_offers_only_the_protocols_served() {
    // With alpn = ["h3"] every client offering h2 or http/1.1 failed its handshake.
    let src = listener(
        "https",
        &format!("pool = \"app\"\n[listener.tls]\ncertificates = [{{ cert = \"{}\", key = \"{}\" }}]\nalpn = [\"h3\", \"http/1.1\"]\n", data("a.pem"), data("a.key")),
    );
    assert_eq!(only(&src), "13:9: alpn protocol \"h3\" is not served here");
    assert_eq!(hint(&src), "use \"h2\", \"http/1.1\" or \"http/1.0\"");
}

/// `[[anycast.announce]]` for `POOL` (one server) with `extra` lines.
fn announce(prefix: &str, proto: &str, extra: &str) -> String {
    format!("{POOL}[anycast]\n[[anycast.announce]]\nprefix = \"{prefix}\"\nbird_protocol = \"{proto}\"\npools = [\"app\"]\n{extra}")
}

#[test]
fn anycast_prefix_with_host_bits_is_refused_as_bird_would() {
    let src = announce("203.0.113.10/24", "vip", "");
    assert_eq!(
        only(&src),
        "8:10: anycast prefix \"203.0.113.10/24\" has bits set past its length /24"
    );
    assert_eq!(
        hint(&src),
        "did you mean \"203.0.113.0/24\"? (a single address is \"203.0.113.10/32\")"
    );
    parse(&announce("203.0.113.0/24", "vip", ""), "lb.toml").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn anycast_bird_protocol_must_be_a_name_bird_accepts() {
    assert_eq!(
        only(&announce("203.0.113.10/32", "1vip", "")),
        "9:17: invalid bird_protocol \"1vip\": a BIRD name starts with a letter or '_'"
    );
    let long = format!("v{}", "x".repeat(64));
    assert_eq!(
        only(&announce("203.0.113.10/32", &long, "")),
        format!("9:17: invalid bird_protocol \"{long}\": BIRD names are at most 64 characters, this one has 65")
    );
    let longest = format!("v{}", "x".repeat(63));
    parse(&announce("203.0.113.10/32", &longest, ""), "lb.toml").unwrap_or_else(|e| panic!("{e}"));
    parse(&announce("203.0.113.10/32", "_vip_1", ""), "lb.toml").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn anycast_min_healthy_above_the_pools_size_is_refused() {
    let src = announce("203.0.113.10/32", "vip", "min_healthy = 2\n");
    assert_eq!(
        only(&src),
        "11:15: min_healthy 2 can never be met: pool \"app\" has 1 server, so 203.0.113.10/32 would never be announced"
    );
    assert_eq!(
        hint(&src),
        "lower min_healthy to at most 1, or add servers to pool \"app\""
    );
    parse(
        &announce("203.0.113.10/32", "vip", "min_healthy = 1\n"),
        "lb.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn anycast_empty_bird_socket_is_refused() {
    let src = format!(
        "{POOL}[anycast]\nbird_socket = \"\"\n[[anycast.announce]]\nprefix = \"203.0.113.10/32\"\nbird_protocol = \"vip\"\npools = [\"app\"]\n"
    );
    assert_eq!(only(&src), "7:15: bird_socket is empty");
}
