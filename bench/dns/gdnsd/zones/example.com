; The benchmark zone for gdnsd (bench/dns.sh); the same data as bench/dns/switchyard.toml.
$TTL 300
@       SOA ns1 hostmaster ( 1 2h 30m 14d 5m )
@       NS  ns1
@       MX  10 mail
ns1     A   192.0.2.53
www     A   192.0.2.1
www     A   192.0.2.2
www     A   192.0.2.3
www     AAAA 2001:db8::1
mail    A   192.0.2.25
alias   CNAME www
