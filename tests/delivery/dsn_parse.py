# dsn_parse.py: reads a delivery status notification with Python's standard email package (an independent MIME
# parser) and prints what it understood as "key<TAB>value" lines for test_bounce_parse.cpp to assert on.
# Usage: python3 dsn_parse.py FILE. Values are escaped: backslash, CR, LF and TAB as \\ \r \n \t.
import email
import email.policy
import email.utils
import sys


def esc(v):
    return str(v).replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def out(key, value):
    print(key + "\t" + esc(value))


def count_defects(msg):
    n = len(msg.defects)
    for h in msg.keys():
        v = msg[h]
        n += len(getattr(v, "defects", ()))
    if msg.is_multipart():
        for p in msg.get_payload():
            n += count_defects(p)
    return n


def main():
    raw = open(sys.argv[1], "rb").read()
    out("maxline", max(len(l) for l in raw.split(b"\r\n")))
    out("bare_lf", int(b"\n" in raw.replace(b"\r\n", b"")))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out("content_type", msg.get_content_type())
    out("report_type", msg.get_param("report-type"))
    out("boundary", msg.get_boundary())
    out("defects", count_defects(msg))
    for h in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Auto-Submitted",
              "Content-Transfer-Encoding"):
        if msg[h] is not None:
            out("header." + h.lower(), msg[h])
    out("from.addr", msg["From"].addresses[0].addr_spec)
    out("from.name", msg["From"].addresses[0].display_name)
    out("to.addr", msg["To"].addresses[0].addr_spec)
    out("date.epoch", int(email.utils.parsedate_to_datetime(str(msg["Date"])).timestamp()))
    parts = msg.get_payload()
    out("parts", len(parts))
    for i, p in enumerate(parts):
        out("part%d.type" % i, p.get_content_type())
        out("part%d.cte" % i, p.get("Content-Transfer-Encoding", ""))
    text = parts[0].get_content()
    out("text", text)
    blocks = parts[1].get_payload()
    out("ds.blocks", len(blocks))
    for i, b in enumerate(blocks):
        for k in b.keys():
            out("ds%d.%s" % (i, k.lower()), b[k])
        if "Arrival-Date" in b:
            out("ds%d.arrival.epoch" % i, int(email.utils.parsedate_to_datetime(str(b["Arrival-Date"])).timestamp()))
        if "Will-Retry-Until" in b:
            out("ds%d.retry.epoch" % i,
                int(email.utils.parsedate_to_datetime(str(b["Will-Retry-Until"])).timestamp()))
    ret = parts[2]
    if ret.get_content_type() == "message/rfc822":
        inner = ret.get_payload(0)
        body = inner.get_payload(decode=True) or b""
        out("returned.subject", inner["Subject"])
        out("returned.body.has8bit", int(any(c >= 0x80 for c in body)))
        out("returned.body", body.decode("utf-8", "replace"))
    else:
        data = ret.get_payload(decode=True)
        out("returned.has8bit", int(any(c >= 0x80 for c in data)))
        headers = email.message_from_bytes(data, policy=email.policy.default)
        out("returned.subject", headers["Subject"])
        out("returned.headers", len(headers.keys()))
    print("ok\t1")


main()
