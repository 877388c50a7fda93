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
