#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Traffic probe for the namespace lab and its tests.

serve   echo servers on TCP and UDP ports
tcp     connect, send a line, expect it back        exit 0 ok, 1 failed
udp     send a datagram, expect it back             exit 0 ok, 1 failed
hold    keep one TCP connection echoing every INTERVAL for DURATION;
        exit 0 if it survived, 3 if it broke (prints when)
who     open COUNT TCP connections one after another to a server run
        with serve --name, each reading the name it answers with;
        print JSON: how many each name answered, how many failed, and
        (--log) every attempt's time and answer
spray   send one datagram to each of COUNT UDP ports from PORT on (COUNT
        flows in a conntrack table, nothing expected back); print how
        many were sent
"""
import json
import argparse
import ipaddress
import socket
import socketserver
import sys
import threading
import time


class TcpEcho(socketserver.BaseRequestHandler):
    name = None  # serve --name: said first on every connection

    def handle(self):
        self.request.settimeout(120)
        try:
            if self.name:
                self.request.sendall(self.name.encode() + b"\n")
            while True:
                data = self.request.recv(4096)
                if not data:
                    return
                self.request.sendall(data)
        except OSError:
            return


class UdpEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


class V6TCP(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class V6UDP(socketserver.ThreadingUDPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve(args):
    TcpEcho.name = args.name
    servers = [V6TCP(("::", p), TcpEcho) for p in args.tcp]
    servers += [V6UDP(("::", p), UdpEcho) for p in args.udp]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("serving tcp %s udp %s" % (args.tcp, args.udp), flush=True)
    deadline = time.time() + args.lifetime
    while time.time() < deadline:
        time.sleep(0.5)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp(args):
    try:
        with socket.socket(family(args.host), socket.SOCK_STREAM) as s:
            s.settimeout(args.timeout)
            s.connect((args.host, args.port))
            s.sendall(b"portcullis\n")
            if s.recv(64) != b"portcullis\n":
                raise OSError("bad echo")
        print("tcp %s:%d ok" % (args.host, args.port))
        return 0
    except OSError as e:
        print("tcp %s:%d failed: %s" % (args.host, args.port, e))
        return 1


def udp(args):
    try:
        with socket.socket(family(args.host), socket.SOCK_DGRAM) as s:
            s.settimeout(args.timeout)
            s.sendto(b"portcullis", (args.host, args.port))
            data, peer = s.recvfrom(64)
            if data != b"portcullis":
                raise OSError("bad echo")
            # from where it was sent: a reply from elsewhere (a balanced
            # flow's backend, not rewritten) is no answer
            try:
                same = (ipaddress.ip_address(peer[0].split("%")[0]) ==
                        ipaddress.ip_address(args.host))
            except ValueError:  # a name: asked of whatever it resolved to
                same = True
            if not same:
                raise OSError("reply from %s" % peer[0])
        print("udp %s:%d ok" % (args.host, args.port))
        return 0
    except OSError as e:
        print("udp %s:%d failed: %s" % (args.host, args.port, e))
        return 1


def hold(args):
    start = time.time()
    try:
        s = socket.create_connection((args.host, args.port), args.timeout)
    except OSError as e:
        print("hold: connect failed: %s" % e, flush=True)
        return 1
    s.settimeout(args.timeout)
    name = ""
    if args.named:  # a serve --name server says who it is first
        line = b""
        while not line.endswith(b"\n"):
            chunk = s.recv(1)
            if not chunk:
                print("hold: closed before a name", flush=True)
                return 1
            line += chunk
        name = " to " + line.decode().strip()
    print("hold: connected%s" % name, flush=True)
    n = 0
    while time.time() - start < args.duration:
        try:
            s.sendall(b"x" * 16)
            got = b""
            while len(got) < 16:
                chunk = s.recv(16 - len(got))
                if not chunk:
                    raise OSError("closed")
                got += chunk
            n += 1
        except OSError as e:
            print("hold: broke after %.2fs, %d echoes: %s"
                  % (time.time() - start, n, e), flush=True)
            return 3
        time.sleep(args.interval)
    print("hold: survived %.2fs, %d echoes" % (time.time() - start, n),
          flush=True)
    s.close()
    return 0


def who(args):
    names, failed, log = {}, 0, []
    start = time.time()
    for _ in range(args.count):
        t = time.time()
        try:
            with socket.socket(family(args.host), socket.SOCK_STREAM) as s:
                s.settimeout(args.timeout)
                s.connect((args.host, args.port))
                line = b""
                while not line.endswith(b"\n"):
                    chunk = s.recv(64)
                    if not chunk:
                        raise OSError("closed")
                    line += chunk
            name = line.decode().strip()
            names[name] = names.get(name, 0) + 1
        except OSError as e:
            failed += 1
            name = None
            if args.log:
                log.append([round(t, 4), None, str(e)])
        if args.log and name:
            log.append([round(t, 4), name])  # wall clock, seconds
        if args.interval:
            time.sleep(args.interval)
    out = {"names": names, "failed": failed,
           "seconds": round(time.time() - start, 3)}
    if args.log:
        out["log"] = log
    print(json.dumps(out))
    return 0 if not failed else 1


def spray(args):
    sent = 0
    with socket.socket(family(args.host), socket.SOCK_DGRAM) as s:
        for p in range(args.port, args.port + args.count):
            try:
                s.sendto(b"portcullis", (args.host, p))
                sent += 1
            except OSError:  # (a full buffer): counted as not sent
                pass
    print(json.dumps({"sent": sent}))
    return 0 if sent == args.count else 1


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--tcp", type=int, nargs="*", default=[])
    s.add_argument("--udp", type=int, nargs="*", default=[])
    s.add_argument("--lifetime", type=float, default=3600)
    s.add_argument("--name", help="say NAME first on every TCP connection")
    for name in ("tcp", "udp", "hold", "who", "spray"):
        c = sub.add_parser(name)
        c.add_argument("host")
        c.add_argument("port", type=int)
        c.add_argument("--timeout", type=float, default=2.0)
        if name == "hold":
            c.add_argument("--interval", type=float, default=0.1)
            c.add_argument("--duration", type=float, default=10.0)
            c.add_argument("--named", action="store_true",
                           help="read the server's name first")
        if name in ("who", "spray"):
            c.add_argument("--count", type=int, default=100)
        if name == "who":
            c.add_argument("--interval", type=float, default=0.0)
            c.add_argument("--log", action="store_true")
    args = p.parse_args()
    if args.cmd == "serve":
        serve(args)
        return 0
    return {"tcp": tcp, "udp": udp, "hold": hold, "who": who,
            "spray": spray}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
