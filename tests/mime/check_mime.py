#!/usr/bin/python3
# check_mime.py: an independent check that a delivered message is a faithful (7-bit) rendering of the original.
#
# Usage: check_mime.py [--seven-bit] [--expect-identical] [--strip sluice|smtp-sink|none] ORIGINAL DELIVERED
#
# ORIGINAL is the message as submitted; it is first normalised the way intake does it (every bare CR or LF becomes
# CRLF, a final CRLF is added to a non-empty message, header lines over 998 octets are folded at white space). DELIVERED is what a receiver stored; --strip removes what
# that receiver added:
#   sluice     `sluice sink --maildir`: one first line "X-Sluice-Envelope: ..." (CRLF), then the exact content.
#   smtp-sink  Postfix smtp-sink's dump file (-d): X-Client-Addr/-Proto, X-Helo-Args, X-Mail-Args, X-Rcpt-Args
#              lines, a folded Received: field, then the message with LF line endings and one extra empty line at
#              the end. The extra line is dropped and LF becomes CRLF.
#   none       nothing (the default).
#
# Checks, in this order; the first failure is printed with a part path (1.2.1: the 1st child of the 2nd child of
# the 1st child of the message, counting from 1; "top" is the message itself; the embedded message of a message/*
# part is its child 1) and the exit status is 1. Exit 0 when every check passes, 2 on a usage or input error.
#   --expect-identical  DELIVERED equals ORIGINAL octet for octet (and nothing else is checked).
#   (a) every line of DELIVERED is at most 998 octets before its CRLF, and there is no bare CR or LF
#       (RFC 5321 §2.3.8, §4.5.3.1.6).
#   (b) with --seven-bit: no octet >= 0x80 and no NUL anywhere (RFC 5321 §2.4, RFC 2045 §2.7).
#   (c) both parse (Python's email package, a MIME parser that is not Sluice's) into the same tree: the same
#       content type (maintype/subtype, comments and case ignored) and parameters at every node, the same number of
#       children, the same boundaries; message/* recursed. Containers are labelled 7bit/8bit/binary only (7bit or
#       nothing with --seven-bit); with --seven-bit a leaf is 7bit, quoted-printable or base64 (RFC 2045 §6.4).
#       A part that was 7-bit clean already (header and everything below it) may keep its original label.
#   (d) every leaf's decoded payload equals the original's; for text/* parts CRLF and LF are treated as equal.
#   (e) header fields are kept: at the top level and in every embedded message, all fields other than
#       Content-Transfer-Encoding, MIME-Version and Content-Type; in body parts, all fields other than
#       Content-Transfer-Encoding. Names and raw values (unfolded), in order.
import argparse
import re
import email
import email.policy
import sys

CONTAINER_CTES = {"7bit", "8bit", "binary"}
SEVEN_BIT_LEAF_CTES = {"7bit", "quoted-printable", "base64"}


class Mismatch(Exception):
    pass


def normalise_like_intake(data):
    """Bare CR and bare LF become CRLF; a non-empty message gets a final CRLF; long header lines are folded."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x0D:
            out += b"\r\n"
            if i + 1 < n and data[i + 1] == 0x0A:
                i += 1
        elif c == 0x0A:
            out += b"\r\n"
        else:
            out.append(c)
        i += 1
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return fold_long_header_lines(bytes(out))


def fold_long_header_lines(data, limit=998):
    """Intake's header repair (RFC 5322 §2.2.3): a top-level header line over `limit` octets is broken before the
    last space or tab that keeps each piece within the limit (with something besides white space before it);
    a line that cannot be brought within the limit stays as it is."""
    end = data.find(b"\r\n\r\n")
    head, rest = (data, b"") if end < 0 else (data[:end + 2], data[end + 2:])
    lines = head.split(b"\r\n")
    out = []
    for line in lines:
        pieces, start, ok = [], 0, True
        while len(line) - start > limit:
            cut = -1
            for i in range(start + limit, start, -1):
                if line[i] in b" \t":
                    if line[start:i].strip(b" \t"):
                        cut = i
                    break
            if cut < 0:
                ok = False
                break
            pieces.append(line[start:cut])
            start = cut
        out.append(b"\r\n".join(pieces + [line[start:]]) if ok else line)
    return b"\r\n".join(out) + rest


def strip_sluice(data):
    prefix = b"X-Sluice-Envelope: "
    if not data.startswith(prefix):
        raise ValueError("delivered file does not start with an X-Sluice-Envelope: line")
    end = data.find(b"\r\n")
    if end < 0:
        raise ValueError("the X-Sluice-Envelope: line has no CRLF")
    return data[end + 2:]


SMTP_SINK_FIELDS = (b"X-Client-Addr:", b"X-Client-Proto:", b"X-Helo-Args:", b"X-Mail-Args:", b"X-Rcpt-Args:")


def strip_smtp_sink(data):
    if b"\r" in data:
        raise ValueError("smtp-sink dump contains a CR: not an smtp-sink dump (it writes LF line endings)")
    ls = data.split(b"\n")
    i = 0
    while i < len(ls) and ls[i].startswith(SMTP_SINK_FIELDS):
        i += 1
    if i == 0:
        raise ValueError("smtp-sink dump does not start with its X-Client-Addr: ... lines")
    if i >= len(ls) or not ls[i].startswith(b"Received:"):
        raise ValueError("smtp-sink dump: no Received: field after its X- lines (line %d)" % (i + 1))
    i += 1
    while i < len(ls) and ls[i][:1] in (b" ", b"\t"):
        i += 1
    rest = b"\n".join(ls[i:])
    if not rest.endswith(b"\n\n"):
        raise ValueError("smtp-sink dump does not end with the extra empty line")
    rest = rest[:-1]
    return rest.replace(b"\n", b"\r\n")


def line_of(data, offset):
    return data.count(b"\n", 0, offset) + 1


def check_lines(data):
    start = 0
    n = len(data)
    lineno = 1
    while start < n:
        end = data.find(b"\r\n", start)
        stop = n if end < 0 else end
        seg = data[start:stop]
        for bad, what in ((b"\r", "bare CR"), (b"\n", "bare LF")):
            k = seg.find(bad)
            if k >= 0:
                raise Mismatch("(a) line %d: %s at offset %d" % (lineno, what, start + k))
        if len(seg) > 998:
            raise Mismatch("(a) line %d is %d octets long (limit 998): %r..." % (lineno, len(seg), seg[:40]))
        if end < 0:
            break
        start = end + 2
        lineno += 1


def check_seven_bit(data):
    for k, c in enumerate(data):
        if c >= 0x80 or c == 0:
            s = max(0, k - 20)
            raise Mismatch("(b) octet 0x%02x at offset %d (line %d) with --seven-bit: ...%r..."
                           % (c, k, line_of(data, k), data[s:k + 20]))


def raw_headers(msg):
    return list(msg.raw_items())


def raw_field(msg, name):
    for k, v in raw_headers(msg):
        if k.lower() == name:
            return v
    return None


def content_type(msg):
    """(type, params) with comments, case and quoting dealt with by the email package's header parser."""
    raw = raw_field(msg, "content-type")
    if raw is None:
        return msg.get_default_type(), {}
    h = email.policy.default.header_factory("Content-Type", raw.replace("\r\n", ""))
    params = {k.lower(): v for k, v in h.params.items()}
    if not h.maintype or not h.subtype or h.defects:
        # What Python's structural parser uses: its own view of the field.
        return msg.get_content_type(), params
    return h.content_type.lower(), params


def cte(msg):
    raw = raw_field(msg, "content-transfer-encoding")
    if raw is None:
        return None
    h = email.policy.default.header_factory("Content-Transfer-Encoding", raw.replace("\r\n", ""))
    return str(h.cte).lower()


def seven_bit_clean(part):
    """True when an original part holds no octet >= 0x80 and no NUL, in its header or anywhere below it."""
    for _, v in raw_headers(part):
        if any(ord(ch) >= 0x80 or ch == "\0" for ch in v):
            return False
    kids = children(part)
    if kids is not None:
        return all(seven_bit_clean(k) for k in kids)
    raw = part._payload  # the undecoded text (get_payload() would decode it with the part's charset)
    raw = raw.encode("ascii", "surrogateescape") if isinstance(raw, str) else b""
    return not any(c >= 0x80 or c == 0 for c in raw)


def label_ok(orig, enc, allowed):
    """A label outside `allowed` is accepted only on a part left as it was because it was 7-bit already."""
    return enc is None or enc in allowed or (enc == cte(orig) and seven_bit_clean(orig))


def canon_text(b):
    return b.replace(b"\r\n", b"\n")


def children(msg):
    if not msg.is_multipart():
        return None
    payload = msg.get_payload()
    return payload if isinstance(payload, list) else [payload]


def unfold(value):
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def compare_headers(path, orig, deliv, embedded_root):
    skip = {"content-transfer-encoding"}
    if embedded_root:
        skip |= {"mime-version", "content-type"}
    # Compared unfolded (RFC 5322 §2.2.3): intake may fold a header line over 998 octets at white space.
    a = [(k, unfold(v)) for k, v in raw_headers(orig) if k.lower() not in skip]
    b = [(k, unfold(v)) for k, v in raw_headers(deliv) if k.lower() not in skip]
    for i in range(max(len(a), len(b))):
        fa = a[i] if i < len(a) else None
        fb = b[i] if i < len(b) else None
        if fa != fb:
            raise Mismatch("(e) part %s: header field %d differs: original %r, delivered %r"
                           % (path, i + 1, fa, fb))


def compare(path, orig, deliv, seven_bit, root):
    where = path or "top"
    ta, pa = content_type(orig)
    tb, pb = content_type(deliv)
    if ta != tb:
        raise Mismatch("(c) part %s: content type %s became %s" % (where, ta, tb))
    if orig.get_boundary() != deliv.get_boundary():
        raise Mismatch("(c) part %s: boundary %r became %r" % (where, orig.get_boundary(), deliv.get_boundary()))
    if pa != pb and not (root and raw_field(orig, "content-type") is None):
        # (a message root without Content-Type may be given one: the non-MIME wrap)
        raise Mismatch("(c) part %s (%s): content-type parameters %r became %r" % (where, ta, pa, pb))
    compare_headers(where, orig, deliv, root)
    ca, cb = children(orig), children(deliv)
    enc = cte(deliv)
    if (ca is None) != (cb is None):
        raise Mismatch("(c) part %s (%s): %s in the original, %s delivered" % (
            where, ta, "a leaf" if ca is None else "a container", "a leaf" if cb is None else "a container"))
    if cb is not None:
        if not label_ok(orig, enc, {"7bit"} if seven_bit else CONTAINER_CTES):
            raise Mismatch("(c) part %s: container %s labelled Content-Transfer-Encoding %s" % (where, tb, enc))
        if len(ca) != len(cb):
            raise Mismatch("(c) part %s (%s): %d children in the original, %d delivered"
                           % (where, ta, len(ca), len(cb)))
        embedded = ta.startswith("message/")
        for i, (x, y) in enumerate(zip(ca, cb), 1):
            compare("%s.%d" % (path, i) if path else str(i), x, y, seven_bit, embedded)
        return
    if seven_bit and not label_ok(orig, enc, SEVEN_BIT_LEAF_CTES):
        raise Mismatch("(c) part %s (%s): Content-Transfer-Encoding %s with --seven-bit" % (where, tb, enc))
    da = orig.get_payload(decode=True) or b""
    db = deliv.get_payload(decode=True) or b""
    if ta.startswith("text/"):
        da, db = canon_text(da), canon_text(db)
    if da != db:
        k = next((i for i in range(min(len(da), len(db))) if da[i] != db[i]), min(len(da), len(db)))
        raise Mismatch("(d) part %s (%s): decoded payload differs at octet %d (original %d octets, delivered %d; "
                       "CTE %s -> %s): original %r, delivered %r"
                       % (where, ta, k, len(da), len(db), cte(orig), enc, da[max(0, k - 16):k + 24],
                          db[max(0, k - 16):k + 24]))


def check(original, delivered, seven_bit, identical):
    if identical:
        if original != delivered:
            k = next((i for i in range(min(len(original), len(delivered))) if original[i] != delivered[i]),
                     min(len(original), len(delivered)))
            raise Mismatch("(identical) octet %d (line %d) differs; original %d octets, delivered %d: "
                           "original %r, delivered %r" % (k, line_of(original, k), len(original), len(delivered),
                                                          original[max(0, k - 16):k + 24],
                                                          delivered[max(0, k - 16):k + 24]))
        return
    check_lines(delivered)
    if seven_bit:
        check_seven_bit(delivered)
    a = email.message_from_bytes(original, policy=email.policy.compat32)
    b = email.message_from_bytes(delivered, policy=email.policy.compat32)
    compare("", a, b, seven_bit, True)


def main(argv):
    ap = argparse.ArgumentParser(description="Check a delivered message against its original (see the header).")
    ap.add_argument("--seven-bit", action="store_true", help="the receiver did not offer 8BITMIME")
    ap.add_argument("--expect-identical", action="store_true", help="the message must arrive unchanged")
    ap.add_argument("--strip", choices=["sluice", "smtp-sink", "none"], default="none")
    ap.add_argument("original")
    ap.add_argument("delivered")
    args = ap.parse_args(argv)
    try:
        with open(args.original, "rb") as f:
            original = normalise_like_intake(f.read())
        with open(args.delivered, "rb") as f:
            delivered = f.read()
        if args.strip == "sluice":
            delivered = strip_sluice(delivered)
        elif args.strip == "smtp-sink":
            delivered = strip_smtp_sink(delivered)
    except (OSError, ValueError) as e:
        print("check_mime: %s" % e, file=sys.stderr)
        return 2
    try:
        check(original, delivered, args.seven_bit, args.expect_identical)
    except Mismatch as e:
        print("check_mime: %s: %s" % (args.delivered, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
