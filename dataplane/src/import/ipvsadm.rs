//! `ipvsadm-save -n` output in our terms: `-A` lines (services: -t/-u ADDR:PORT, -s scheduler,
//! -p [timeout], -M netmask) and `-a` lines (reals: -r ADDR:PORT, -g/-m/-i, -w weight, -x/-y
//! thresholds), short or long options. A service's forwarding mode is its first real's (ipvsadm sets it per real);
//! reals that differ keep their own. Anything else is listed in the notes with its line.

use super::{scheduler, Forward, Imported, Notes, Real, Service};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// ipvsadm's persistence timeout when `-p` has no value.
const DEFAULT_PERSISTENCE_S: u64 = 300;

/// A service's identity: (tcp, vip, port).
type Key = (bool, IpAddr, u16);

/// Translates the text of an `ipvsadm-save -n` dump; `name` is used in the notes.
pub fn translate(text: &str, name: &str) -> Imported {
    let mut out = Imported::default();
    // Reals' forwarding modes, to settle each service's afterwards.
    let mut modes: Vec<Vec<Forward>> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", n + 1);
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[0] {
            "-A" | "--add-service" => {
                if let Some(s) = add_service(&words[1..], &at, &mut out.notes) {
                    let key = (s.tcp, s.vip, s.port);
                    if out.services.iter().any(|o| (o.tcp, o.vip, o.port) == key) {
                        out.notes
                            .add(&at, "this service is defined twice; the second is skipped");
                        continue;
                    }
                    out.services.push(s);
                    modes.push(Vec::new());
                }
            }
            "-a" | "--add-server" => {
                let Some((key, real, mode)) = add_server(&words[1..], &at, &mut out.notes) else {
                    continue;
                };
                let Some(i) = out
                    .services
                    .iter()
                    .position(|o| (o.tcp, o.vip, o.port) == key)
                else {
                    out.notes.add(
                        &at,
                        format!("not translated: {line} (no -A line for its service before it)"),
                    );
                    continue;
                };
                if out.services[i]
                    .reals
                    .iter()
                    .any(|o| o.ip == real.ip && o.port == real.port)
                {
                    out.notes
                        .add(&at, "this real is listed twice; the second is skipped");
                    continue;
                }
                out.services[i].reals.push(real);
                modes[i].push(mode);
            }
            _ => out.notes.add(&at, format!("not translated: {line}")),
        }
    }
    for (s, m) in out.services.iter_mut().zip(modes) {
        s.forward = m.first().copied().unwrap_or(Forward::Nat);
        for (r, mode) in s.reals.iter_mut().zip(m) {
            r.forward = Some(mode);
        }
        s.tidy();
    }
    out
}

/// `-t ADDR:PORT` / `-u ADDR:PORT` at `words[i]`: (tcp, address).
fn service_addr(
    opt: &str,
    val: Option<&&str>,
    at: &str,
    notes: &mut Notes,
) -> Option<(bool, SocketAddr)> {
    let tcp = match opt {
        "-t" | "--tcp-service" => true,
        "-u" | "--udp-service" => false,
        _ => {
            notes.add(
                at,
                format!(
                    "not translated: {opt} {} (TCP and UDP services are supported)",
                    val.unwrap_or(&"")
                ),
            );
            return None;
        }
    };
    // `198.18.0.100:80` or `[2001:db8::100]:80`, as ipvsadm-save writes them.
    match val.and_then(|v| v.parse::<SocketAddr>().ok()) {
        Some(a) => Some((tcp, a)),
        None => {
            notes.add(
                at,
                format!(
                    "not translated: {opt} {} (ADDRESS:PORT, IPv6 in brackets, is supported)",
                    val.unwrap_or(&"")
                ),
            );
            None
        }
    }
}

fn is_service_opt(w: &str) -> bool {
    matches!(
        w,
        "-t" | "--tcp-service"
            | "-u"
            | "--udp-service"
            | "-f"
            | "--fwmark-service"
            | "--sctp-service"
    )
}

fn add_service(args: &[&str], at: &str, notes: &mut Notes) -> Option<Service> {
    let mut addr = None;
    let mut sched = "wlc".to_string();
    let mut persist: Option<u64> = None;
    let mut mask = Ipv4Addr::BROADCAST;
    let mut i = 0;
    while i < args.len() {
        let opt = args[i];
        let val = args.get(i + 1);
        i += 2;
        match opt {
            o if is_service_opt(o) => addr = Some(service_addr(o, val, at, notes)?),
            "-s" | "--scheduler" => sched = scheduler(val.unwrap_or(&""), at, notes),
            "-p" | "--persistent" => match val.and_then(|v| v.parse().ok()) {
                Some(t) => persist = Some(t),
                None => {
                    persist = Some(DEFAULT_PERSISTENCE_S);
                    i -= 1; // the timeout is optional
                }
            },
            "-M" | "--netmask" => match val.and_then(|v| v.parse().ok()) {
                Some(m) => mask = m,
                None => notes.add(
                    at,
                    format!(
                        "`{opt} {}`: not an IPv4 netmask; ignored",
                        val.unwrap_or(&"")
                    ),
                ),
            },
            _ => {
                let v = val
                    .filter(|v| !v.starts_with('-'))
                    .copied()
                    .unwrap_or_else(|| {
                        i -= 1;
                        ""
                    });
                notes.add(
                    at,
                    format!("not translated: {opt} {v}").trim_end().to_string(),
                );
            }
        }
    }
    let Some((tcp, a)) = addr else {
        notes.add(at, "not translated: -A without -t or -u");
        return None;
    };
    if persist.is_none() && mask != Ipv4Addr::BROADCAST {
        notes.add(at, "-M without -p has no effect; ignored");
    }
    Some(Service {
        from: at.to_string(),
        tcp,
        vip: a.ip(),
        port: a.port(),
        scheduler: sched,
        forward: Forward::Nat,
        persistence: persist.map(|t| (t.max(1), mask)),
        check: None,
        reals: Vec::new(),
    })
}

fn add_server(args: &[&str], at: &str, notes: &mut Notes) -> Option<(Key, Real, Forward)> {
    let mut key = None;
    let mut real: Option<SocketAddr> = None;
    // ipvsadm's default method is direct routing (gatewaying).
    let mut mode = Forward::Dr;
    let mut weight = 1u32;
    let (mut upper, mut lower) = (0u32, 0u32);
    let mut i = 0;
    while i < args.len() {
        let opt = args[i];
        let val = args.get(i + 1);
        i += 1;
        match opt {
            o if is_service_opt(o) => {
                i += 1;
                let (tcp, a) = service_addr(o, val, at, notes)?;
                key = Some((tcp, a.ip(), a.port()));
            }
            "-r" | "--real-server" => {
                i += 1;
                real = val.and_then(|v| {
                    crate::config::parse_addr_port(v)
                        .ok()
                        .map(|(ip, port)| SocketAddr::new(ip, port.unwrap_or(0)))
                });
                if real.is_none() {
                    notes.add(
                        at,
                        format!(
                            "not translated: -r {} (ADDRESS[:PORT], IPv6 in brackets, is supported)",
                            val.unwrap_or(&"")
                        ),
                    );
                    return None;
                }
            }
            "-g" | "--gatewaying" => mode = Forward::Dr,
            "-m" | "--masquerading" => mode = Forward::Nat,
            "-i" | "--ipip" => mode = Forward::Tun,
            "-w" | "--weight" => {
                i += 1;
                match val.and_then(|v| v.parse::<u32>().ok()) {
                    Some(w) if w <= 65535 => weight = w,
                    _ => notes.add(
                        at,
                        format!(
                            "`-w {}`: not a weight (0-65535); 1 used",
                            val.unwrap_or(&"")
                        ),
                    ),
                }
            }
            "-x" | "--u-threshold" | "-y" | "--l-threshold" => {
                i += 1;
                match val.and_then(|v| v.parse::<u32>().ok()) {
                    Some(n) if opt == "-x" || opt == "--u-threshold" => upper = n,
                    Some(n) => lower = n,
                    None => notes.add(
                        at,
                        format!(
                            "not translated: {opt} {} (not a number)",
                            val.unwrap_or(&"")
                        ),
                    ),
                }
            }
            _ => {
                let v = val.filter(|v| !v.starts_with('-')).copied().unwrap_or("");
                if !v.is_empty() {
                    i += 1;
                }
                notes.add(
                    at,
                    format!("not translated: {opt} {v}").trim_end().to_string(),
                );
            }
        }
    }
    let (Some(key), Some(real)) = (key, real) else {
        notes.add(at, "not translated: -a needs -t/-u and -r");
        return None;
    };
    let port = if real.port() == 0 {
        None
    } else {
        Some(real.port())
    };
    let mut r = Real {
        ip: real.ip(),
        port,
        weight,
        forward: None,
        check: None,
        upper_threshold: upper,
        lower_threshold: lower,
    };
    r.check_thresholds(at, notes);
    Some((key, r, mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_reals_like_ipvsadm_save_prints_them() {
        let i = translate(
            "-A -t 192.0.2.10:80 -s wrr -p 360 -M 255.255.255.0\n\
             -a -t 192.0.2.10:80 -r 198.51.100.11:80 -m -w 3\n\
             -a -t 192.0.2.10:80 -r 198.51.100.12:8080 -m -w 0\n\
             -A -u 192.0.2.10:53 -s rr\n\
             -a -u 192.0.2.10:53 -r 198.51.100.11:53 -g -w 1\n\
             -a -u 192.0.2.10:53 -r 198.51.100.12:53 -i -w 1\n\
             -A --tcp-service 192.0.2.11:0 --scheduler sh --persistent\n\
             --add-server --tcp-service 192.0.2.11:0 --real-server 198.51.100.13 --gatewaying --weight 2\n",
            "save",
        );
        assert!(i.notes.is_empty(), "{:?}", i.notes);
        let yaml = super::super::services_yaml(&i.services);
        assert_eq!(
            yaml,
            "mode: lb\nservices:\n\
             \x20 # from save:1\n  - name: tcp-192.0.2.10-80\n    vip: 192.0.2.10\n    port: 80\n    protocol: tcp\n    scheduler: wrr\n    forward: nat\n    persistence: {timeout: 360s, netmask: 255.255.255.0}\n    reals:\n      - {ip: 198.51.100.11, weight: 3}\n      - {ip: 198.51.100.12, port: 8080, weight: 0}\n\
             \x20 # from save:4\n  - name: udp-192.0.2.10-53\n    vip: 192.0.2.10\n    port: 53\n    protocol: udp\n    scheduler: rr\n    forward: dr\n    reals:\n      - {ip: 198.51.100.11, weight: 1}\n      - {ip: 198.51.100.12, weight: 1, forward: tun}\n\
             \x20 # from save:7\n  - name: tcp-192.0.2.11-0\n    vip: 192.0.2.11\n    port: 0\n    protocol: tcp\n    scheduler: sh\n    forward: dr\n    persistence: {timeout: 300s, netmask: 255.255.255.255}\n    reals:\n      - {ip: 198.51.100.13, weight: 2}\n"
        );
    }

    /// ipvsadm-save writes IPv6 services and reals in brackets.
    #[test]
    fn ipv6_services_and_reals() {
        let i = translate(
            "-A -t [2001:db8::100]:80 -s rr\n\
             -a -t [2001:db8::100]:80 -r [2001:db8:1::11]:80 -m -w 1\n\
             -a -t [2001:db8::100]:80 -r 198.51.100.12:8080 -m -w 2\n\
             -a -t [2001:db8::100]:80 -r [2001:db8:1::12] -m -w 1\n",
            "save",
        );
        assert!(i.notes.is_empty(), "{:?}", i.notes);
        assert_eq!(
            super::super::services_yaml(&i.services),
            "mode: lb\nservices:\n\
             \x20 # from save:1\n  - name: tcp-2001:db8::100-80\n    vip: 2001:db8::100\n    port: 80\n    protocol: tcp\n    scheduler: rr\n    forward: nat\n    reals:\n      - {ip: 2001:db8:1::11, weight: 1}\n      - {ip: 198.51.100.12, port: 8080, weight: 2}\n      - {ip: 2001:db8:1::12, weight: 1}\n"
        );
        let bad = translate("-A -t 2001:db8::100:80 -s rr\n", "s");
        assert_eq!(
            bad.notes.lines(),
            ["s:1: not translated: -t 2001:db8::100:80 (ADDRESS:PORT, IPv6 in brackets, is supported)"]
        );
    }

    #[test]
    fn thresholds_map_to_upper_and_lower() {
        let i = translate(
            "-A -t 192.0.2.10:80 -s wlc\n\
             -a -t 192.0.2.10:80 -r 198.51.100.11:80 -m -w 1 --u-threshold 50 --l-threshold 40\n\
             -a -t 192.0.2.10:80 -r 198.51.100.12:80 -m -w 1 -x 5 -y 9\n\
             -a -t 192.0.2.10:80 -r 198.51.100.13:80 -m -w 1 -y 9\n",
            "s",
        );
        assert_eq!(
            i.notes.lines(),
            [
                "s:3: lower threshold 9 above the upper one 5 (IPVS refuses it); left out",
                "s:4: lower threshold 9 above the upper one 0 (IPVS refuses it); left out",
            ]
        );
        let yaml = super::super::services_yaml(&i.services);
        let reals: Vec<&str> = yaml.lines().filter(|l| l.contains("{ip:")).collect();
        assert_eq!(
            reals,
            [
                "      - {ip: 198.51.100.11, weight: 1, upper_threshold: 50, lower_threshold: 40}",
                "      - {ip: 198.51.100.12, weight: 1, upper_threshold: 5}",
                "      - {ip: 198.51.100.13, weight: 1}",
            ]
        );
    }

    #[test]
    fn what_cannot_be_translated_is_listed_with_its_line() {
        let i = translate(
            "-A -f 1 -s rr\n\
             -A -t 2001:db8::1:80 -s rr\n\
             -A -t 192.0.2.10:80 -s lblcr -b sh-port\n\
             -a -t 192.0.2.10:80 -r 198.51.100.11:80 -m -w 1 -x 100 -y 10\n\
             -a -t 192.0.2.99:80 -r 198.51.100.11:80 -m\n\
             -C\n",
            "s",
        );
        assert_eq!(
            i.notes.lines(),
            [
                "s:1: not translated: -f 1 (TCP and UDP services are supported)",
                "s:2: not translated: -t 2001:db8::1:80 (ADDRESS:PORT, IPv6 in brackets, is supported)",
                "s:3: scheduler `lblcr` is not supported (one of rr, wrr, lc, wlc, sed, nq, sh, dh, mh); wlc used",
                "s:3: not translated: -b sh-port",
                "s:5: not translated: -a -t 192.0.2.99:80 -r 198.51.100.11:80 -m (no -A line for its service before it)",
                "s:6: not translated: -C",
            ]
        );
        assert_eq!(i.services.len(), 1);
        assert_eq!(i.services[0].reals.len(), 1);
        // -x/-y are the real's thresholds.
        let r = &i.services[0].reals[0];
        assert_eq!((r.upper_threshold, r.lower_threshold), (100, 10));
    }
}
