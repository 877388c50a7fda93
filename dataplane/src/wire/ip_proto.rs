//! IP protocol / IPv6 next-header numbers this data plane looks at.

pub const HOPOPT: u8 = 0;
pub const ICMP: u8 = 1;
/// IPv4-in-IPv4 encapsulation (LVS tunnel mode).
pub const IPIP: u8 = 4;
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const IPV6_ROUTING: u8 = 43;
pub const IPV6_FRAGMENT: u8 = 44;
pub const ESP: u8 = 50;
pub const AH: u8 = 51;
pub const ICMPV6: u8 = 58;
pub const IPV6_NONXT: u8 = 59;
pub const IPV6_DSTOPTS: u8 = 60;
/// IPv6-in-IPv6 encapsulation (tunnel mode over IPv6, RFC 2473).
pub const IPV6: u8 = 41;
/// Extension headers in the RFC 6564 uniform format that the IPv6 walk steps over.
pub const IPV6_MOBILITY: u8 = 135;
pub const HIP: u8 = 139;
pub const SHIM6: u8 = 140;
pub const IPV6_EXPERIMENT1: u8 = 253;
pub const IPV6_EXPERIMENT2: u8 = 254;
