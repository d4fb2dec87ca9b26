#!/usr/bin/python3
# check_mime_selftest.py: proves that check_mime.py passes what it must pass and fails what it must fail.
#
# A checker that cannot fail is a defect, so every check (a) to (e), --expect-identical and both --strip modes is
# driven here with a hand-made original, a hand-made correct 7-bit conversion of it, and one mutation per check.
# Each case runs check_mime.py as a process (as the corpus tests do) and asserts its exit status and which check
# reported. Exit 0 when every case behaves; otherwise the failing cases are printed and the exit status is 1.
import base64
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_mime.py")


def crlf(*ls):
    return b"".join((x.encode() if isinstance(x, str) else x) + b"\r\n" for x in ls)


BINARY = bytes(range(256)) * 3
HEAD = ("From: a@example.org", "To: b@example.net", "Subject: self-test", "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="st"')

ORIGINAL = crlf(*HEAD, "", "preamble", "--st", "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: 8bit", "", "café au lait", "deuxième ligne", "--st",
                "Content-Type: application/octet-stream", "Content-Transfer-Encoding: binary", "") + \
    BINARY.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n" + crlf("--st--")

B64 = base64.encodebytes(BINARY.replace(b"\r", b"").replace(b"\n", b"")).replace(b"\n", b"\r\n")
CONVERTED = crlf(*HEAD, "", "preamble", "--st", "Content-Type: text/plain; charset=utf-8",
                 "Content-Transfer-Encoding: quoted-printable", "", "caf=C3=A9 au lait", "deuxi=C3=A8me ligne",
                 "--st", "Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64", "") + \
    B64 + crlf("--st--")


def mutate(data, old, new):
    assert data.count(old) == 1, old
    return data.replace(old, new)


CASES = [
    # (name, args, original, delivered, expected exit, expected text in output)
    ("identical input", [], ORIGINAL, ORIGINAL, 0, ""),
    ("identical input, --expect-identical", ["--expect-identical"], ORIGINAL, ORIGINAL, 0, ""),
    ("correct 7-bit conversion", ["--seven-bit"], ORIGINAL, CONVERTED, 0, ""),
    ("original without final CRLF (intake adds it)", [], ORIGINAL[:-2], ORIGINAL, 0, ""),
    ("changed text payload", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, b"caf=C3=A9", b"caf=C3=A8"), 1, "(d) part 1 "),
    ("changed binary payload", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, B64[:8], b"AAAAAAAA"), 1, "(d) part 2 "),
    ("CRLF added to a binary part", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, B64, base64.encodebytes(BINARY.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n")
            .replace(b"\n", b"\r\n")), 1, "(d) part 2 "),
    ("changed content type", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, b"Content-Type: text/plain", b"Content-Type: text/html"), 1, "(c) part 1: content type"),
    ("dropped charset", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, b"text/plain; charset=utf-8", b"text/plain"), 1, "(c) part 1 (text/plain): content-type"),
    ("changed boundary", ["--seven-bit"], ORIGINAL,
     CONVERTED.replace(b"--st", b"--su").replace(b'boundary="st"', b'boundary="su"'), 1, "(c) part top: boundary"),
    ("container encoded", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, b'boundary="st"\r\n', b'boundary="st"\r\nContent-Transfer-Encoding: base64\r\n'), 1,
     "(c) part top: container multipart/mixed labelled"),
    ("leaf left 8bit with --seven-bit", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, b"Content-Transfer-Encoding: quoted-printable", b"Content-Transfer-Encoding: 8bit"), 1,
     "(c) part 1 (text/plain): Content-Transfer-Encoding 8bit"),
    ("7-bit clean part keeps its 8bit label", ["--seven-bit"],
     mutate(ORIGINAL, "café".encode(), b"cafe"),
     mutate(mutate(CONVERTED, b"quoted-printable", b"8bit"), b"caf=C3=A9", b"cafe").replace(b"=C3=A8", b"\xc3\xa8"),
     1, "(b) octet 0xc3"),
    ("7-bit clean leaf labelled 8bit, left as it was", ["--seven-bit"],
     mutate(mutate(ORIGINAL, "café".encode(), b"cafe"), "deuxième".encode(), b"deuxieme"),
     mutate(mutate(mutate(CONVERTED, b"quoted-printable", b"8bit"), b"caf=C3=A9", b"cafe"), b"deuxi=C3=A8me",
            b"deuxieme"), 0, ""),
    ("8-bit octet with --seven-bit", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, b"preamble", b"pr\xc3\xa9amble"), 1, "(b) octet 0xc3"),
    ("NUL with --seven-bit", ["--seven-bit"], ORIGINAL, mutate(CONVERTED, b"preamble", b"pre\x00amble"), 1,
     "(b) octet 0x00"),
    ("8-bit octet without --seven-bit", [], ORIGINAL, mutate(CONVERTED, b"preamble", b"pr\xc3\xa9amble"), 0, ""),
    ("a 999-octet line", [], ORIGINAL, mutate(CONVERTED, b"preamble", b"p" * 999), 1, "(a) line 7 is 999"),
    ("a 998-octet line", [], ORIGINAL, mutate(CONVERTED, b"preamble", b"p" * 998), 0, ""),
    ("a bare LF", [], ORIGINAL, mutate(CONVERTED, b"preamble", b"pre\namble"), 1, "(a) line 7: bare LF"),
    ("changed top-level header", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, b"Subject: self-test", b"Subject: self-test!"), 1, "(e) part top: header field 3"),
    ("dropped part header", ["--seven-bit"], ORIGINAL,
     mutate(CONVERTED, b"Content-Type: application/octet-stream\r\n", b""), 1, "(c) part 2: content type"),
    ("one byte off, --expect-identical", ["--expect-identical"], ORIGINAL,
     mutate(ORIGINAL, b"au lait", b"au bait"), 1, "(identical) octet"),
    ("sluice sink maildir file", ["--strip", "sluice", "--expect-identical"], ORIGINAL,
     b"X-Sluice-Envelope: from=<a@example.org>; to=<b@example.net>; body=8BITMIME; smtputf8=no; "
     b"transport=BDAT; tls=no\r\n" + ORIGINAL, 0, ""),
    ("sluice sink file without its header", ["--strip", "sluice"], ORIGINAL, ORIGINAL, 2, "X-Sluice-Envelope"),
    ("smtp-sink dump", ["--strip", "smtp-sink", "--seven-bit"], ORIGINAL,
     b"X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Helo-Args: [127.0.0.1]\nX-Mail-Args: <a@example.org>\n"
     b"X-Rcpt-Args: <b@example.net>\nReceived: from [127.0.0.1] ([127.0.0.1])\n\tby sink.test (smtp-sink) with "
     b"ESMTP id 1;\n\tTue, 4 Jun 2024 10:00:00 +0000 (UTC)\n" + CONVERTED.replace(b"\r\n", b"\n") + b"\n", 0, ""),
    ("smtp-sink dump with a changed payload", ["--strip", "smtp-sink", "--seven-bit"], ORIGINAL,
     b"X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Helo-Args: [127.0.0.1]\nX-Mail-Args: <a@example.org>\n"
     b"X-Rcpt-Args: <b@example.net>\nReceived: from [127.0.0.1] ([127.0.0.1])\n\tby sink.test (smtp-sink) with "
     b"ESMTP id 1;\n\tTue, 4 Jun 2024 10:00:00 +0000 (UTC)\n" +
     mutate(CONVERTED, b"lait", b"LAIT").replace(b"\r\n", b"\n") + b"\n", 1, "(d) part 1 "),
]


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, args, orig, deliv, want_rc, want_text) in enumerate(CASES):
            po, pd = os.path.join(tmp, "o%d" % i), os.path.join(tmp, "d%d" % i)
            with open(po, "wb") as f:
                f.write(orig)
            with open(pd, "wb") as f:
                f.write(deliv)
            r = subprocess.run([sys.executable, CHECKER] + args + [po, pd], capture_output=True, text=True)
            out = r.stdout + r.stderr
            ok = r.returncode == want_rc and (want_text in out)
            print("%-4s %s (exit %d)%s" % ("ok" if ok else "FAIL", name, r.returncode,
                                           "" if ok else ": expected exit %d with %r, got %r"
                                           % (want_rc, want_text, out.strip())))
            failures += 0 if ok else 1
    print("%d of %d cases failed" % (failures, len(CASES)) if failures else "all %d cases passed" % len(CASES))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
