#!/usr/bin/python3
# make_corpus.py: writes the MIME conversion corpus (tests/mime/corpus/NN-name.eml and EXPECTED).
#
# Every message is assembled here octet by octet (no email generator), so that the odd cases stay odd: CRLF line
# endings everywhere, one file deliberately without its final CRLF, 8-bit octets exactly where a case wants them.
# The output is deterministic (no clock, no randomness beyond a fixed-seed generator), so running the script again
# rewrites identical files; the files are committed next to it and the script is only needed to change them.
#
# EXPECTED, one line per file: "NN-name.eml <7-bit peer> <8BITMIME peer>", each `deliver`, `refuse:5.6.3` or
# `refuse:5.6.7`. The columns are what the delivery engine must do for that peer (spec: esmtp-rules.md §4, §11
# edge cases 11-14), under two stated assumptions: the peer does not offer SMTPUTF8, and the non-MIME policy is
# the engine default `bounce`. Lines starting with '#' are comments.
#
# Usage: make_corpus.py [OUTDIR]   (default: the corpus/ directory next to this script)
#        make_corpus.py --check [DIR]  exit 1 unless DIR holds exactly what the script writes (a ctest runs it)
import os
import sys

CRLF = b"\r\n"


def lines(*ls):
    """Joins lines (str or bytes) with CRLF and ends with CRLF."""
    out = b""
    for line in ls:
        out += (line.encode("utf-8") if isinstance(line, str) else line) + CRLF
    return out


def header(subject, extra=(), mime=True, msgid=None):
    h = [
        "From: Sluice Tests <sender@example.org>",
        "To: Receiver <rcpt@example.net>",
        "Subject: " + subject,
        "Date: Tue, 04 Jun 2024 10:00:00 +0000",
        "Message-ID: <%s@corpus.example.org>" % (msgid or subject.lower().replace(" ", "-")[:40]),
    ]
    if mime:
        h.append("MIME-Version: 1.0")
    h.extend(extra)
    return lines(*h)


class Lcg:
    """A fixed-seed generator so the binary content is the same on every run."""

    def __init__(self, seed):
        self.x = seed

    def next(self):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return self.x >> 33

    def octets(self, n, exclude=b""):
        out = bytearray()
        while len(out) < n:
            c = self.next() & 0xFF
            if c not in exclude:
                out.append(c)
        return bytes(out)


def b64lines(data):
    import base64
    enc = base64.b64encode(data)
    return CRLF.join(enc[i:i + 76] for i in range(0, len(enc), 76)) + CRLF


FRENCH = [
    "Bonjour à tous,",
    "",
    "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë au delà des îles,",
    "près du mälström où brûlent les novæ.",
    "",
    "Voici le programme de la réunion de vendredi : café à 9 h, présentation des résultats,",
    "déjeuner au restaurant « Chez Hélène », puis séance de travail jusqu'à 17 h.",
    "",
    "Coût estimé : 1 250 € par personne (hôtel compris).",
    "",
    "Pour la logistique, merci de confirmer votre participation avant mardi soir, en indiquant si vous",
    "prendrez le train ou la voiture, et si vous avez besoin d'une place de parking. Les salles sont",
    "au deuxième étage, porte B ; le code d'entrée vous sera envoyé la veille par message.",
    "",
    "Les documents de travail sont sur le serveur partagé, dans le dossier Projets/2024/Juin. Merci de",
    "les lire avant la séance, en particulier le rapport financier et la note sur le calendrier.",
    "",
    "Bien à vous,",
    "Amélie",
]

CYRILLIC = [
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "В чащах юга жил бы цитрус? Да, но фальшивый экземпляр!",
    "Широкая электрификация южных губерний даст мощный толчок подъёму сельского хозяйства.",
    "Эх, чужак, общий съём цен шляп (юфть) — вдрызг!",
]

CJK = [
    "いろはにほへと ちりぬるを わかよたれそ つねならむ うゐのおくやま けふこえて あさきゆめみし ゑひもせす",
    "我能吞下玻璃而不伤身体。天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。",
    "다람쥐 헌 쳇바퀴에 타고파. 키스의 고유조건은 입술끼리 만나야 하고 특별한 기술은 필요치 않다.",
]


def newsletter_html(target_size, title):
    parts = [
        "<!DOCTYPE html>",
        "<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>%s</title></head>" % title,
        "<body style=\"font-family: sans-serif\">",
        "<h1>%s — édition spéciale</h1>" % title,
    ]
    i = 0
    body = "\r\n".join(parts)
    chunks = [body]
    size = len(body.encode("utf-8"))
    while size < target_size:
        i += 1
        para = (
            "<table role=\"presentation\" width=\"100%%\" cellpadding=\"0\" cellspacing=\"0\" "
            "style=\"border-collapse: collapse; margin: 0 auto; max-width: 600px\"><tr>\r\n"
            "<td style=\"padding: 12px 24px; font-size: 16px; line-height: 24px; color: #333333\">\r\n"
            "<h2 style=\"margin: 0 0 8px 0; font-size: 20px\">Article n° %d : “Les coulisses de l'été”</h2>\r\n"
            "<p style=\"margin: 0\">Dès l'aube, l'équipe s'est réunie près du château pour préparer la fête ; "
            "on y a dégusté crème brûlée et rösti. Prix : %d,50 € — réservations à l'accueil.</p>\r\n"
            "<p style=\"margin: 8px 0 0 0\"><a href=\"https://news.example.org/articles/2024/06/%d?utm_source="
            "newsletter&amp;utm_medium=email&amp;utm_campaign=june\" style=\"color: #0066cc\">Lire la suite "
            "»</a></p>\r\n</td></tr></table>\r\n" % (i, i % 97, i)
        )
        chunks.append(para)
        size += len(para.encode("utf-8"))
    chunks.append("<p>Vous recevez ce courriel parce que vous êtes abonné·e.</p>\r\n</body></html>")
    return "\r\n".join(chunks[:1]) + "\r\n" + "".join(chunks[1:])


def build():
    files = []  # (name, bytes, expect7, expect8)

    def add(name, data, e7="deliver", e8="deliver"):
        files.append((name, data, e7, e8))

    # 01: plain 7-bit ASCII, no MIME structure needed.
    add("01-plain-ascii.eml",
        header("Plain ASCII", ["Content-Type: text/plain; charset=us-ascii",
                               "Content-Transfer-Encoding: 7bit"]) +
        lines("", "Hello,", "", "This message is plain 7-bit ASCII and must travel unchanged.", "", "-- ", "Tests"))

    # 02: UTF-8 French text/plain, 8bit: quoted-printable is the shorter encoding.
    add("02-utf8-french.eml",
        header("French UTF-8", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        lines("", *FRENCH))

    # 03: mostly Cyrillic: base64 is shorter than quoted-printable.
    add("03-utf8-cyrillic.eml",
        header("Cyrillic UTF-8", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        lines("", *(CYRILLIC * 6)))

    # 04: CJK: base64 is shorter.
    add("04-utf8-cjk.eml",
        header("CJK UTF-8", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        lines("", *(CJK * 8)))

    # 05: an 8-bit HTML newsletter of about 30 KiB.
    add("05-html-newsletter.eml",
        header("Newsletter HTML", ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        CRLF + newsletter_html(30 * 1024, "La lettre de juin").encode("utf-8") + CRLF)

    # 06: multipart/alternative, both parts 8-bit.
    add("06-alternative-8bit.eml",
        header("Alternative 8bit", ['Content-Type: multipart/alternative; boundary="alt-06"']) +
        lines("", "--alt-06",
              "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", *FRENCH,
              "--alt-06",
              "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "<html><body><p>Le cœur déçu mais l'âme plutôt naïve…</p><p>Coût : 1 250 €</p></body></html>",
              "--alt-06--"))

    # 07: multipart/mixed with a PDF-like attachment in CTE binary: NUL octets, 8-bit octets, long lines.
    rng = Lcg(7)
    pdf = b"%PDF-1.4" + CRLF + b"%\xe2\xe3\xcf\xd3" + CRLF + b"1 0 obj << /Length 4000 >> stream" + CRLF
    pdf += rng.octets(3000, exclude=b"\r\n") + CRLF          # one 3000-octet line
    pdf += b"\x00\x00\x00" + rng.octets(500, exclude=b"\r\n") + CRLF
    pdf += rng.octets(1200, exclude=b"\r\n")                  # the last line has no line break of its own
    add("07-mixed-pdf-binary.eml",
        header("Binary attachment", ['Content-Type: multipart/mixed; boundary="mix-07"']) +
        lines("", "This is a multi-part message in MIME format.", "--mix-07",
              "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Ci-joint le rapport trimestriel (version définitive).",
              "--mix-07",
              'Content-Type: application/pdf; name="rapport.pdf"',
              'Content-Disposition: attachment; filename="rapport.pdf"',
              "Content-Transfer-Encoding: binary", "") +
        pdf + CRLF + lines("--mix-07--"))

    # 08: multipart/mixed whose attachment is already base64: all 7-bit, nothing to convert.
    rng = Lcg(8)
    add("08-mixed-base64-7bit.eml",
        header("Base64 attachment", ['Content-Type: multipart/mixed; boundary="mix-08"']) +
        lines("", "--mix-08", "Content-Type: text/plain; charset=us-ascii", "",
              "The attachment is already encoded.", "--mix-08",
              'Content-Type: application/octet-stream; name="data.bin"',
              "Content-Transfer-Encoding: base64", "") +
        b64lines(rng.octets(2000)) + lines("--mix-08--"))

    # 09: nested multipart: mixed > related > alternative, plus an image and an 8-bit attachment.
    rng = Lcg(9)
    add("09-nested-mixed-related-alt.eml",
        header("Nested multiparts", ['Content-Type: multipart/mixed; boundary="outer-09"']) +
        lines("", "--outer-09", 'Content-Type: multipart/related; boundary="rel-09"; type="multipart/alternative"',
              "", "--rel-09", 'Content-Type: multipart/alternative; boundary="alt-09"', "",
              "--alt-09", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Voir l'image ci-dessous : été 2024.",
              "--alt-09", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              '<p>Voir l\'image : <img src="cid:img09@example.org" alt="été"></p>',
              "--alt-09--", "", "--rel-09", "Content-Type: image/png", "Content-ID: <img09@example.org>",
              "Content-Transfer-Encoding: base64", "") +
        b64lines(b"\x89PNG\r\n\x1a\n" + rng.octets(600)) +
        lines("--rel-09--", "", "--outer-09", 'Content-Type: text/plain; charset=iso-8859-1; name="notes.txt"',
              'Content-Disposition: attachment; filename="notes.txt"', "Content-Transfer-Encoding: 8bit", "",
              "Notes en Latin-1 : ".encode() + "café, déjà, où".encode("latin-1"),
              "--outer-09--"))

    # 10: a message/rfc822 attachment whose body is 8-bit (a multipart/alternative inside).
    add("10-rfc822-8bit-body.eml",
        header("Forwarded message", ['Content-Type: multipart/mixed; boundary="mix-10"']) +
        lines("", "--mix-10", "Content-Type: text/plain; charset=us-ascii", "", "Forwarded message attached.",
              "--mix-10", "Content-Type: message/rfc822", "Content-Transfer-Encoding: 8bit", "",
              "From: Original <orig@example.com>", "To: Someone <someone@example.com>",
              "Subject: the original", "MIME-Version: 1.0",
              'Content-Type: multipart/alternative; boundary="inner-10"', "",
              "--inner-10", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Réponse attendue avant jeudi, merci d'avance. Ça marche ?",
              "--inner-10", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "<p>Réponse attendue avant <b>jeudi</b>. Ça marche ?</p>",
              "--inner-10--", "--mix-10--"))

    # 11: a message/rfc822 attachment whose own header has raw 8-bit octets: cannot be made 7-bit (5.6.3).
    add("11-rfc822-8bit-header.eml",
        header("Forwarded with 8-bit header", ['Content-Type: multipart/mixed; boundary="mix-11"']) +
        lines("", "--mix-11", "Content-Type: text/plain; charset=us-ascii", "", "See attached.",
              "--mix-11", "Content-Type: message/rfc822", "", "From: Hélène <helene@example.com>",
              "To: someone@example.com", "Subject: Réunion de vendredi", "", "Plain 7-bit body.",
              "--mix-11--"), "refuse:5.6.3", "deliver")

    # 12: multipart/digest: parts without Content-Type are message/rfc822 (RFC 2046 §5.1.5); one has an 8-bit body.
    add("12-digest.eml",
        header("Digest", ['Content-Type: multipart/digest; boundary="dig-12"']) +
        lines("", "Digest preamble.", "", "--dig-12", "",
              "From: a@example.com", "Subject: first", "", "First message, 7-bit.",
              "", "--dig-12", "",
              "From: b@example.com", "Subject: second", "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Deuxième message, avec des accents : éèêë.",
              "", "--dig-12", "Content-Type: text/plain; charset=us-ascii", "", "An explicit text part.",
              "--dig-12--"))

    # 13: message/partial with 8-bit content: RFC 2046 §5.2.2 allows only 7bit; a 7-bit peer cannot get it (5.6.3).
    add("13-partial-8bit.eml",
        header("Partial 8bit", ['Content-Type: message/partial; id="part13@example.org"; number=1; total=2']) +
        lines("", "Subject: the whole message", "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Première moitié du message, coupée ici : élan, façon, œuvre."), "refuse:5.6.3", "deliver")

    # 14: message/partial, 7-bit: delivered as it is.
    add("14-partial-7bit.eml",
        header("Partial 7bit", ['Content-Type: message/partial; id="part14@example.org"; number=2; total=2']) +
        lines("", "Second half of the message, plain ASCII.", "End."))

    # 15: message/external-body, 7-bit.
    add("15-external-body-7bit.eml",
        header("External body", ['Content-Type: multipart/mixed; boundary="mix-15"']) +
        lines("", "--mix-15", "Content-Type: text/plain; charset=us-ascii", "", "The file is on the server.",
              "--mix-15",
              'Content-Type: message/external-body; access-type=URL; URL="https://files.example.org/big.iso"', "",
              "Content-Type: application/octet-stream", "Content-ID: <big15@example.org>", "", "",
              "--mix-15--"))

    # 16: a 5000-octet 8-bit line in text/plain: even an 8BITMIME peer needs it encoded (over 998).
    long16 = ("Ligne très longue sans retour à la ligne : " + "éàü-0123456789 " * 400).encode()[:5000]
    assert len(long16) == 5000
    add("16-long-line-5000.eml",
        header("Long 8bit line", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        lines("", "Before the long line.", long16, "After the long line."))

    # 17: ASCII lines of exactly 998 and 999 octets; the 999 one is over the SMTP limit (RFC 5321 §4.5.3.1.6).
    add("17-lines-998-999.eml",
        header("Lines 998 and 999", ["Content-Type: text/plain; charset=us-ascii"]) +
        lines("", "A", "x" * 997 + "!", "y" * 998 + "?", "B"))

    # 18: body lines that look like the end of DATA, 7-bit.
    add("18-dot-lines-7bit.eml",
        header("Dot lines 7bit", ["Content-Type: text/plain; charset=us-ascii"]) +
        lines("", "First line.", ".", "..", ". x", "...", ".", "", ".", "Last line."))

    # 19: the same look-alikes in 8-bit text (after conversion a line may start with '.' too).
    add("19-dot-lines-8bit.eml",
        header("Dot lines 8bit", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        lines("", "Première ligne.", ".", "..", ". x", ".é", "..é", "", ".", "." + "é" * 40, "Dernière."))

    # 20: quoted-printable edge cases: '=', trailing spaces and tabs, lines that are only white space.
    add("20-qp-equals-trailing-space.eml",
        header("QP edges", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        lines("", "a=b and x==y, 100% = €", "=", "==", "=3D already looks encoded", "ends with equals=",
              "trailing space ", "trailing tab\t", "both \t ", "   ", "\t", "é ", "é\t", "From the start",
              "soft=\t", "done."))

    # 21: lines of exactly 76 characters / octets with 8-bit octets around the quoted-printable wrap point.
    l76a = "x" * 75 + "é"           # 77 octets
    l76b = "y" * 74 + "é"           # 76 octets, 75 characters
    l76c = "é" + "z" * 74           # 76 octets
    l76d = "w" * 73 + "é" + " "     # 76 octets, ends with a space
    l76e = "v" * 76                 # 76 ASCII octets
    l76f = "u" * 72 + "=é"          # 76 octets
    add("21-line-76-8bit.eml",
        header("Line of 76", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        lines("", l76a, l76b, l76c, l76d, l76e, l76f, "é" * 38, "end"))

    # 22: a NUL octet in a text/plain part (binary even for an 8BITMIME peer).
    add("22-nul-in-text.eml",
        header("NUL in text", ['Content-Type: multipart/mixed; boundary="mix-22"']) +
        lines("", "--mix-22", "Content-Type: text/plain; charset=us-ascii", "",
              b"before NUL \x00 after NUL", "plain line", "--mix-22",
              "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", "Deuxième partie.",
              "--mix-22--"))

    # 23: CTE says 8bit, the content is 7-bit.
    add("23-cte-8bit-content-7bit.eml",
        header("Labelled 8bit", ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 8bit"]) +
        lines("", "Labelled 8bit but every octet is ASCII."))

    # 24: a multipart whose close delimiter is missing (the last part runs to the end).
    add("24-missing-close-delimiter.eml",
        header("No close delimiter", ['Content-Type: multipart/mixed; boundary="mix-24"']) +
        lines("", "--mix-24", "Content-Type: text/plain; charset=us-ascii", "", "First part.",
              "--mix-24", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Dernière partie, sans délimiteur de fin."))

    # 25: 8-bit preamble and epilogue (not part of any body part; RFC 2046 §5.1.1).
    add("25-preamble-epilogue-8bit.eml",
        header("8bit preamble", ['Content-Type: multipart/mixed; boundary="mix-25"']) +
        lines("", "Préambule en 8 bits, ignoré par les lecteurs.", "--mix-25",
              "Content-Type: text/plain; charset=us-ascii", "", "Part one is ASCII.",
              "--mix-25", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Deuxième partie : été.", "--mix-25--", "Épilogue en 8 bits.", "Fin."))

    # 26: a quoted boundary with spaces, and transport padding after a delimiter.
    add("26-quoted-boundary-spaces.eml",
        header("Boundary with spaces", ['Content-Type: multipart/mixed;',
                                        '\tboundary="boundary with spaces\'()+_,-./:=?"']) +
        lines("", "--boundary with spaces'()+_,-./:=?",
              "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Partie un : à bientôt.",
              "--boundary with spaces'()+_,-./:=?  \t",
              "Content-Type: text/plain; charset=us-ascii", "", "Part two.",
              "--boundary with spaces'()+_,-./:=?--"))

    # 27: Content-Type with RFC 822 comments and odd case on an 8-bit leaf; odd case on the multipart.
    add("27-content-type-comments-case.eml",
        header("Odd Content-Type", ['Content-Type: Multipart/MIXED; BOUNDARY="mix-27"']) +
        lines("", "--mix-27", 'Content-Type: TEXT/Plain (the body); CHARSET="utf-8" (really)',
              "Content-Transfer-Encoding: 8BIT (raw)", "", "Texte accentué : ça, où, naïf.",
              "--mix-27", 'content-type: Text/HTML; Charset=UTF-8', "content-transfer-encoding: 8Bit", "",
              "<p>Texte accentué</p>", "--mix-27--"))

    # 28: folded Content-Transfer-Encoding fields: an 8bit part and an already-base64 part.
    add("28-folded-cte.eml",
        header("Folded CTE", ['Content-Type: multipart/mixed; boundary="mix-28"']) +
        lines("", "--mix-28", "Content-Type: text/plain;", " charset=utf-8", "Content-Transfer-Encoding:",
              " 8bit", "", "Pliée : l'en-tête est replié.", "--mix-28", "Content-Type: application/octet-stream",
              "Content-Transfer-Encoding:", "\tbase64", "", "3q2+7wABAgP/", "--mix-28--"))

    # 29: a raw UTF-8 Subject at the top level: needs SMTPUTF8 (RFC 6532); refused 5.6.7 without it.
    add("29-subject-8bit.eml",
        header("Réunion à 10 h", ["Content-Type: text/plain; charset=us-ascii"], msgid="subject-8bit") +
        lines("", "The body is 7-bit; only the Subject is not."), "refuse:5.6.7", "refuse:5.6.7")

    # 30: no MIME-Version and an 8-bit body: under the default policy `bounce`, refused (5.6.3) for a 7-bit peer.
    add("30-nonmime-8bit.eml",
        header("Non-MIME 8bit", mime=False) + lines("", "Pas de MIME ici, mais des accents : é, à, ü."),
        "refuse:5.6.3", "deliver")

    # 31: an empty body (header, blank line, nothing).
    add("31-empty-body.eml", header("Empty body", ["Content-Type: text/plain; charset=us-ascii"]) + CRLF)

    # 32: the file ends without a final CRLF; intake adds one.
    add("32-no-final-crlf.eml",
        header("No final CRLF", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        CRLF + "Dernière ligne sans fin de ligne : voilà".encode())

    # 33: an 8-bit HTML message of about 1 MiB.
    add("33-html-1mib.eml",
        header("Big HTML", ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        CRLF + newsletter_html(1024 * 1024, "Archive annuelle").encode("utf-8") + CRLF)

    # 34: ISO-8859-1 text (8-bit, not UTF-8).
    add("34-latin1-text.eml",
        header("Latin-1", ["Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: 8bit"]) +
        lines("", *[s.encode("latin-1") for s in ["Très cher ami,", "Voilà le reçu : 12,50 ¤.", "À bientôt."]]))

    # 35: a body part with no header at all (defaults to text/plain; charset=us-ascii) but 8-bit content.
    add("35-part-without-headers-8bit.eml",
        header("Part without headers", ['Content-Type: multipart/mixed; boundary="mix-35"']) +
        lines("", "--mix-35", "", "Partie sans en-tête mais accentuée : déjà.", "--mix-35",
              "Content-Type: text/plain; charset=us-ascii", "", "Second part.", "--mix-35--"))

    # 36: a non-text part in CTE 8bit: only base64 fits it.
    add("36-octet-stream-8bit.eml",
        header("Octet stream 8bit", ['Content-Type: multipart/mixed; boundary="mix-36"']) +
        lines("", "--mix-36", "Content-Type: text/plain; charset=us-ascii", "", "Data follows.", "--mix-36",
              "Content-Type: application/octet-stream", "Content-Transfer-Encoding: 8bit", "",
              bytes(range(0x80, 0x100)), "second line \xff\xfe".encode("latin-1"), "--mix-36--"))

    # 37: message/rfc822 at the top level, containing a multipart with another message/rfc822 with 8-bit text.
    add("37-rfc822-nested-twice.eml",
        header("Nested messages", ["Content-Type: message/rfc822"]) +
        lines("", "From: level1@example.com", "Subject: level 1", "MIME-Version: 1.0",
              'Content-Type: multipart/mixed; boundary="l1-37"', "", "--l1-37",
              "Content-Type: text/plain", "", "Level 1 text.", "--l1-37", "Content-Type: message/rfc822", "",
              "From: level2@example.com", "Subject: level 2", "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Niveau 2 : profondément imbriqué.", "--l1-37--"))

    # 38: message/external-body whose phantom body has 8-bit octets: must be 7bit (RFC 2046 §5.2.3), refused.
    add("38-external-body-8bit.eml",
        header("External body 8bit", ['Content-Type: multipart/mixed; boundary="mix-38"']) +
        lines("", "--mix-38", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Le fichier est sur le serveur.", "--mix-38",
              'Content-Type: message/external-body; access-type=URL; URL="https://files.example.org/é.txt"', "",
              "Content-Type: text/plain; charset=utf-8", "", "Résumé du fichier.", "--mix-38--"),
        "refuse:5.6.3", "deliver")

    # 39: no MIME-Version and a 7-bit body: nothing to do.
    add("39-nonmime-7bit.eml", header("Non-MIME 7bit", mime=False) + lines("", "Plain old RFC 822 text."))

    # 40: CTE says 7bit but the content is 8-bit (a common mislabel): it still has to be encoded.
    add("40-cte-7bit-content-8bit.eml",
        header("Mislabelled 7bit", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit"]) +
        lines("", "Étiqueté 7bit mais accentué : où est l'erreur ?"))

    # 41: a part labelled quoted-printable that also holds raw 8-bit octets (a broken but common label): what a
    # decoder reads must survive, so the raw octets have to become =XX (or the part be re-encoded from its decoding).
    add("41-qp-label-raw-8bit.eml",
        header("QP with raw 8bit", ["Content-Type: text/plain; charset=utf-8",
                                    "Content-Transfer-Encoding: quoted-printable"]) +
        lines("", "D=C3=A9j=C3=A0 encod=C3=A9, mais ceci ne l'est pas : ça, où.", "soft break=", "here."))

    # 42: a message that is all header: no empty line, no body.
    add("42-header-only.eml",
        header("Header only", ["Content-Type: text/plain; charset=us-ascii"]))

    # 43: a multipart labelled binary (a container may be 7bit, 8bit or binary) holding 8-bit text and a
    # message/rfc822 labelled binary: both labels must become 7bit for a 7-bit peer.
    add("43-container-labelled-binary.eml",
        header("Binary container", ['Content-Type: multipart/mixed; boundary="mix-43"',
                                    "Content-Transfer-Encoding: binary"]) +
        lines("", "--mix-43", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Conteneur étiqueté binary.", "--mix-43", "Content-Type: message/rfc822",
              "Content-Transfer-Encoding: binary", "", "From: inner@example.com", "Subject: inner",
              "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Message intérieur.", "--mix-43--"))

    # 44: multiparts nested 40 deep around one 8-bit leaf: deeper than the converter's limit (32), refused 5.6.3
    # for a 7-bit peer; an 8BITMIME peer takes it as it is.
    deep = [""]
    for d in range(40):
        deep += ["--deep-%d" % d, 'Content-Type: multipart/mixed; boundary="deep-%d"' % (d + 1), ""]
    deep += ["--deep-40", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
             "Tout au fond : été."]
    for d in range(40, -1, -1):
        deep += ["--deep-%d--" % d]
    add("44-deep-nesting-40.eml",
        header("Deep nesting", ['Content-Type: multipart/mixed; boundary="deep-0"']) + lines(*deep),
        "refuse:5.6.3", "deliver")

    # 45: multipart/mixed without a boundary parameter, with 8-bit content: nothing says where the parts are,
    # and a multipart may not be encoded, so a 7-bit peer cannot get it (5.6.3).
    add("45-multipart-no-boundary-8bit.eml",
        header("No boundary", ["Content-Type: multipart/mixed"]) +
        lines("", "--guess", "Content-Type: text/plain; charset=utf-8", "", "Où est la frontière ?", "--guess--"),
        "refuse:5.6.3", "deliver")

    # 46: raw UTF-8 in a body part's header (an attachment's filename): a header cannot be re-encoded (5.6.3).
    add("46-part-header-8bit-filename.eml",
        header("8bit filename", ['Content-Type: multipart/mixed; boundary="mix-46"']) +
        lines("", "--mix-46", "Content-Type: text/plain; charset=us-ascii", "", "CV attached.", "--mix-46",
              'Content-Type: application/pdf; name="résumé.pdf"',
              'Content-Disposition: attachment; filename="résumé.pdf"', "Content-Transfer-Encoding: base64", "",
              "JVBERi0xLjQK", "--mix-46--"), "refuse:5.6.3", "deliver")

    # 47: long runs of white space in 8-bit text: trailing white space longer than a quoted-printable line, so
    # the encoded white space spans soft line breaks and only the last octet before the hard break is =20 / =09.
    add("47-qp-long-whitespace.eml",
        header("Long white space", ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) +
        lines("", " " * 200, "\t" * 80 + "é", "é" + " " * 100, "x" + " \t" * 60, "é" + "\t" * 75 + "=", "end"))

    # 48: a part with its Content-Transfer-Encoding field twice (8bit, then 8bit again).
    add("48-duplicate-cte.eml",
        header("Duplicate CTE", ['Content-Type: multipart/mixed; boundary="mix-48"']) +
        lines("", "--mix-48", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
              "Content-Description: between the two", "Content-Transfer-Encoding: 8bit", "",
              "Deux fois l'en-tête : déjà vu.", "--mix-48--"))

    # 49: a 7-bit message with a 1200-octet header line (RFC 5322 §2.1.1 allows 998): it can only travel folded.
    refs = " ".join("<ref%04d.%s@lists.example.org>" % (i, "x" * 8) for i in range(36))
    assert len("References: " + refs) > 1100
    add("49-long-header-line.eml",
        header("Long header line", ["Content-Type: text/plain; charset=us-ascii", "References: " + refs]) +
        lines("", "The References field above is one line of more than 998 octets."))

    # 50: the boundary given with RFC 2231 parameter continuations (boundary*0, boundary*1; RFC 2231 §3).
    add("50-rfc2231-boundary.eml",
        header("RFC 2231 boundary", ['Content-Type: multipart/mixed; boundary*0="mix-";', ' boundary*1="50"']) +
        lines("", "--mix-50", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              "Frontière en deux morceaux.", "--mix-50--"))

    # 51: dot lines in the converted stream (RFC 5321 §4.5.2: the DATA path stuffs them): 8-bit lines where a
    # quoted-printable soft break lands just before a "." (for every nearby break position), and copied 7-bit
    # dot lines right at the start of a copied slice: the preamble after the container's relabelled header, a 7-bit
    # part, and the epilogue.
    add("51-dots-in-converted-stream.eml",
        header("Dots in conversion", ['Content-Type: multipart/mixed; boundary="mix-51"',
                                      "Content-Transfer-Encoding: 8bit"]) +
        lines("", ".", "..preamble", "--mix-51", "Content-Type: text/plain; charset=utf-8",
              "Content-Transfer-Encoding: 8bit", "",
              *["x" * k + ".é" + "." * (k % 3) for k in range(68, 80)], "..é", ".",
              "--mix-51", "Content-Type: text/plain; charset=us-ascii", "", ".", "..", ". x", ".",
              "--mix-51--", ".", "..epilogue", "."))

    # 52: no close delimiter, and the last part (binary, with NUL octets) must be base64-encoded: its content ends
    # where the message ends, and the message's final CRLF is not part of it (it is where the delimiter's CRLF
    # would be; RFC 2046 §5.1.1), so the decoded attachment must not grow a CRLF.
    rng = Lcg(52)
    add("52-missing-close-delimiter-binary.eml",
        header("No close delimiter, binary", ['Content-Type: multipart/mixed; boundary="mix-52"']) +
        lines("", "--mix-52", "Content-Type: text/plain; charset=us-ascii", "", "Attachment follows.", "--mix-52",
              "Content-Type: application/octet-stream", "Content-Transfer-Encoding: binary", "",
              b"\x00\x01" + rng.octets(300, exclude=b"\r\n") + b"\x00"))

    # 53: an 8-bit part whose own header has a 1,200-octet line (a long file name): intake folds only the
    # top-level header, so the conversion must fold this one (RFC 5322 §2.2.3) to keep every line within 998.
    long_name = "rapport-" + "annuel-" * 80 + "final " + "version-" * 60 + "definitive.txt"
    assert len(long_name) > 1000
    add("53-long-part-header-line.eml",
        header("Long part header line", ['Content-Type: multipart/mixed; boundary="mix-53"']) +
        lines("", "--mix-53", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
              'Content-Disposition: attachment; filename="%s"' % long_name, "",
              "Pièce jointe au nom très long.", "--mix-53--"))

    return files


def outputs():
    """Every file of the corpus directory: name -> bytes."""
    files = build()
    out = {name: data for name, data, _, _ in files}
    expected = "# <file> <7-bit peer> <8BITMIME peer>: deliver | refuse:<enhanced code>\n"
    expected += "# Assumes the peer does not offer SMTPUTF8 and the non-MIME policy is the default `bounce`.\n"
    expected += "".join("%s %s %s\n" % (name, e7, e8) for name, _, e7, e8 in files)
    out["EXPECTED"] = expected.encode()
    out[".gitattributes"] = b"* -text\n"
    return out


def main():
    args = sys.argv[1:]
    check = bool(args) and args[0] == "--check"
    if check:
        args = args[1:]
    out = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    files = outputs()
    if check:
        present = set(os.listdir(out))
        stale = sorted(n for n, d in files.items() if n not in present or open(os.path.join(out, n), "rb").read() != d)
        extra = sorted(present - set(files))
        for n in stale:
            print("corpus file differs from make_corpus.py's output (or is missing): %s" % n)
        for n in extra:
            print("corpus file not written by make_corpus.py: %s" % n)
        return 1 if stale or extra else 0
    os.makedirs(out, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("wrote %d messages to %s" % (len(files) - 2, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
