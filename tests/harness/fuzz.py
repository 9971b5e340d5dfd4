"""A deterministic SIP fuzzer: mutations of well-formed requests into the
malformed messages an internet-facing edge receives -- truncated messages,
missing mandatory headers, bad Content-Length, huge headers, binary junk,
absurd Max-Forwards and CSeq, broken start lines and URIs. Seeded, so a
failing run is reproduced exactly."""

from __future__ import annotations

import random
from typing import Callable, Iterator

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\n")


def corpus(edge: str, src: str) -> list[str]:
    """Well-formed requests to mutate."""
    def req(method: str, ruri: str, extra: str = "", body: str = "") -> str:
        return (f"{method} {ruri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {src};branch=z9hG4bKfuzz{{n}}\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:000037001@edge.local>;tag=f{n}\r\n"
                f"To: <sip:7002@edge.local>\r\n"
                "Call-ID: fuzz-{n}@test\r\n"
                f"CSeq: 1 {method}\r\n"
                f"Contact: <sip:000037001@{src}>\r\n"
                f"{extra}"
                f"Content-Length: {len(body)}\r\n\r\n{body}")
    return [
        req("REGISTER", f"sip:{edge}", "Expires: 600\r\n"),
        req("INVITE", f"sip:7002@{edge}", "Content-Type: application/sdp\r\n", SDP),
        req("OPTIONS", f"sip:{edge}"),
        req("OPTIONS", f"sip:7002@{edge}"),
        req("BYE", f"sip:7002@{edge}", "Route: <sip:" + edge + ";lr>\r\n"),
        req("MESSAGE", f"sip:7002@{edge}", "Content-Type: text/plain\r\n", "hello"),
    ]


Mutator = Callable[[random.Random, str], bytes]


def _lines(m: str) -> tuple[list[str], str]:
    head, _, body = m.partition("\r\n\r\n")
    return head.split("\r\n"), body


def _join(lines: list[str], body: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode(errors="surrogateescape")


def truncate(r: random.Random, m: str) -> bytes:
    return m.encode()[:r.randrange(1, len(m))]


def drop_mandatory(r: random.Random, m: str) -> bytes:
    lines, body = _lines(m)
    name = r.choice(["Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards"])
    return _join([ln for ln in lines if not ln.startswith(name + ":")], body)


def bad_content_length(r: random.Random, m: str) -> bytes:
    lines, body = _lines(m)
    value = r.choice(["-1", "99999999", "abc", "", "4294967296", str(len(body) + 500), "0x10",
                      "1 2", "00000000000000000000000005"])
    return _join([("Content-Length: " + value) if ln.startswith("Content-Length") else ln
                  for ln in lines], body)


def huge_header(r: random.Random, m: str) -> bytes:
    lines, body = _lines(m)
    size = r.choice([4000, 16000, 60000, 70000])
    lines.insert(r.randrange(1, len(lines)), "X-Fill: " + "A" * size)
    return _join(lines, body)


def many_headers(r: random.Random, m: str) -> bytes:
    lines, body = _lines(m)
    name = r.choice(["Via", "Route", "Contact", "X-H"])
    extra = [f"{name}: SIP/2.0/UDP 1.2.3.{i % 250};branch=z9hG4bK{i}" if name == "Via"
             else f"{name}: <sip:h{i}@x>" for i in range(r.choice([50, 300, 1000]))]
    return _join(lines[:2] + extra + lines[2:], body)


def junk(r: random.Random, m: str) -> bytes:
    return bytes(r.randrange(256) for _ in range(r.randrange(1, 3000)))


def flip_bytes(r: random.Random, m: str) -> bytes:
    b = bytearray(m.encode())
    for _ in range(r.randrange(1, 20)):
        b[r.randrange(len(b))] = r.randrange(256)
    return bytes(b)


def absurd_numbers(r: random.Random, m: str) -> bytes:
    lines, body = _lines(m)
    out = []
    for ln in lines:
        if ln.startswith("Max-Forwards"):
            ln = "Max-Forwards: " + r.choice(["-1", "99999999999999", "256", "x", "", "0x46"])
        elif ln.startswith("CSeq"):
            method = ln.split()[-1]
            ln = "CSeq: " + r.choice([f"99999999999999 {method}", f"-5 {method}",
                                      f"1 {method}X", "1", f"abc {method}", f"1 {method} 2"])
        out.append(ln)
    return _join(out, body)


def bad_start_line(r: random.Random, m: str) -> bytes:
    lines, body = _lines(m)
    method, uri, _ = lines[0].split(" ", 2)
    lines[0] = r.choice([f"{method} {uri} SIP/3.0", f"{method}  SIP/2.0", f"{uri} SIP/2.0",
                         f"{method} sip:@@::: SIP/2.0", f"{method} {uri}",
                         f"{method} {'sip:' + 'a' * 2000 + '@x'} SIP/2.0",
                         f"\x00{method} {uri} SIP/2.0", f"{method} tel:+++ SIP/2.0"])
    return _join(lines, body)


def bad_uris(r: random.Random, m: str) -> bytes:
    lines, body = _lines(m)
    name = r.choice(["From", "To", "Contact"])
    value = r.choice(["<sip:>", "<>", "sip:a@b;;;;;;", "<sip:a@[::1>", "<" + "x" * 500 + ">",
                      '"unterminated <sip:a@b>', "<sip:a@b>;tag=" + "t" * 1000])
    return _join([f"{name}: {value}" if ln.startswith(name + ":") else ln for ln in lines],
                 body)


def nul_in_headers(r: random.Random, m: str) -> bytes:
    b = bytearray(m.encode())
    end = m.find("\r\n\r\n")
    for _ in range(r.randrange(1, 5)):
        b[r.randrange(1, max(2, end))] = 0
    return bytes(b)


MUTATORS: list[Mutator] = [truncate, drop_mandatory, bad_content_length, huge_header,
                           many_headers, junk, flip_bytes, absurd_numbers, bad_start_line,
                           bad_uris, nul_in_headers]


def messages(edge: str, src: str, count: int, seed: int = 7240) -> Iterator[tuple[str, bytes]]:
    """(mutator name, message) pairs; deterministic for a seed."""
    r = random.Random(seed)
    base = corpus(edge, src)
    for n in range(count):
        mut = MUTATORS[n % len(MUTATORS)]
        yield mut.__name__, mut(r, r.choice(base).replace("{n}", str(n)))
