#!/usr/bin/env python3
"""The real servers' services on the namespace testbed (scripts/testbed).

One process per real server, three services, each answering with the server's name so a client
can tell which real server the balancer picked:

- HTTP on TCP port 80: every GET (any path) gets 200 with body "<name>\\n" and a Content-Length.
  The connection is closed after the answer unless the client asked for keep-alive with a
  "Connection: keep-alive" header, so one curl is one connection (what scheduler tests count).
- TCP echo on port 7: echoes bytes back until the client closes (long-lived connection tests).
  One thread per connection.
- UDP on port 53: answers each datagram with "<name> " + the datagram, from the address it was
  sent to (the VIP in DR/TUN mode).

Everything binds 0.0.0.0, so in DR and TUN mode the servers also answer on the VIP configured on
lo / tun0. With --ipv6 each service also listens on :: (IPv6 only, beside the IPv4 sockets), for
the testbed's IPv6 (scripts/testbed up --ipv6). Prints "ready" once all sockets listen
(scripts/testbed waits for that line).
Standard library only.
"""

import argparse
import http.server
import signal
import socket
import socketserver
import struct
import sys
import threading


class HttpHandler(http.server.BaseHTTPRequestHandler):
    """Answers GET and HEAD with the server's name."""

    protocol_version = "HTTP/1.1"
    server_version = "dpt-testbed"
    sys_version = ""
    # Idle keep-alive connections are dropped after this many seconds, so threads do not pile up.
    timeout = 60

    def version_string(self):
        return self.server_version

    def do_GET(self):  # noqa: N802 (the name http.server dispatches to)
        self._answer(send_body=True)

    def do_HEAD(self):  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, send_body):
        body = self.server.body
        keep_alive = self.headers.get("Connection", "").strip().lower() == "keep-alive"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "keep-alive" if keep_alive else "close")
        self.end_headers()
        if send_body:
            self.wfile.write(body)
        self.close_connection = not keep_alive

    def log_message(self, fmt, *args):
        sys.stderr.write("http %s %s\n" % (self.client_address[0], fmt % args))


class HttpServer(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256


class EchoHandler(socketserver.BaseRequestHandler):
    """Sends back every byte received until the peer closes."""

    def handle(self):
        sock = self.request
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                sock.sendall(data)
        except OSError:
            return


class EchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256


class V6Only:
    """An IPv6 listener beside the IPv4 one on the same port (IPV6_V6ONLY)."""

    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


class HttpServer6(V6Only, HttpServer):
    pass


class EchoServer6(V6Only, EchoServer):
    pass


def serve_udp6(sock, name):
    """IPv6 UDP: answers from the address the datagram was sent to (IPV6_PKTINFO), as IPv4 does."""
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    prefix = name.encode() + b" "
    while True:
        try:
            data, ancillary, _flags, peer = sock.recvmsg(65535, socket.CMSG_SPACE(20))
            reply_from = []
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= 20:
                    # struct in6_pktinfo: the address it was sent to, then the interface index.
                    reply_from = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, value[:16] + bytes(4))]
            sock.sendmsg([prefix + data], reply_from, 0, peer)
        except OSError as err:
            sys.stderr.write("udp6: %s\n" % err)


# Linux's IP_PKTINFO (not exported by Python's socket module): tells us which address each
# datagram was sent to, so the answer leaves from that same address. Without it a socket bound to
# 0.0.0.0 answers from the route's source (198.19.0.x) instead of the VIP in DR/TUN mode, and the
# client drops the answer.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
PKTINFO = struct.Struct("=I4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr


def serve_udp(sock, name):
    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    prefix = name.encode() + b" "
    while True:
        try:
            data, ancillary, _flags, peer = sock.recvmsg(65535, socket.CMSG_SPACE(PKTINFO.size))
            reply_from = []
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= PKTINFO.size:
                    _ifindex, _spec_dst, dst = PKTINFO.unpack_from(value)
                    reply_from = [(socket.IPPROTO_IP, IP_PKTINFO, PKTINFO.pack(0, dst, bytes(4)))]
            sock.sendmsg([prefix + data], reply_from, 0, peer)
        except OSError as err:
            sys.stderr.write("udp: %s\n" % err)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the name every answer carries, e.g. real1")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--echo-port", type=int, default=7)
    parser.add_argument("--udp-port", type=int, default=53)
    parser.add_argument("--ipv6", action="store_true", help="also listen on :: (IPv6)")
    args = parser.parse_args()

    http_server = HttpServer((args.bind, args.http_port), HttpHandler)
    http_server.body = (args.name + "\n").encode()
    echo_server = EchoServer((args.bind, args.echo_port), EchoHandler)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind((args.bind, args.udp_port))

    # SIGTERM (scripts/testbed down / server stop) or SIGINT ends the process at once. Blocked
    # before the threads start so they inherit the mask and only the main thread's sigwait sees it.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    threading.Thread(target=echo_server.serve_forever, daemon=True).start()
    threading.Thread(target=serve_udp, args=(udp, args.name), daemon=True).start()
    where = args.bind
    if args.ipv6:
        http6 = HttpServer6(("::", args.http_port), HttpHandler)
        http6.body = http_server.body
        echo6 = EchoServer6(("::", args.echo_port), EchoHandler)
        udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        udp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        udp6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp6.bind(("::", args.udp_port))
        threading.Thread(target=http6.serve_forever, daemon=True).start()
        threading.Thread(target=echo6.serve_forever, daemon=True).start()
        threading.Thread(target=serve_udp6, args=(udp6, args.name), daemon=True).start()
        where += " and ::"
    print(
        "ready: %s http=%d echo=%d udp=%d on %s"
        % (args.name, args.http_port, args.echo_port, args.udp_port, where),
        flush=True,
    )
    signal.sigwait(stop_signals)
    print("stopping", flush=True)

if __name__ == "__main__":
    main()
