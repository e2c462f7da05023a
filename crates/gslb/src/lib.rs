//! Global server load balancing: which datacenter answers a client, by country pins and
//! great-circle distance, skipping datacenters that are down. Pure.
