"""What the stripping of a reply recognises, line by line: the patterns of each mail client and language.

Quote headers ("On … wrote:", "Am … schrieb …:", "-----Original Message-----"),
the mail-header blocks Outlook and others put above a quoted thread, signature
lines ("Sent from my iPhone"), delimiters and closing formulas ("Mit freundlichen
Grüßen", "Best regards"). ``mailflow.inbound.strip`` holds the algorithm that
uses them; a new client or language is a pattern here.
"""

from __future__ import annotations

import re

QUOTE = re.compile(r"^\s*>")
FENCE = re.compile(r"^\s*```")
SIG_DASH = re.compile(r"^--\s*$")
# A line made of separator characters only ("ᐧ" is the invisible tracker Gmail appends).
DELIMITER = re.compile(r"^\s*(?:[-_=+~#*•—–]{2,}|ᐧ)\s*$")
MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
SIGNATURE_WIDTH = 100  # "Sent from my iPhone" lines are short; a long line starting so is text

SIGNATURE_LINE = re.compile(
    r"""^\s*[(<]*\s*(?:
        sent\ (?:from|via|with|by|using)\ \S
      | \w+\ from\ mobile
      | from\ my\ (?:i?phone|ipad|ipod|android|mobile|cell|samsung|galaxy|blackberry|tablet|smartphone)\b
      | get\ outlook\ for\b
      | envoyé\ (?:depuis|de)\ (?:mon|ma|yahoo|mail|outlook)\b
      | von\ meinem\ .+\ gesendet
      | gesendet\ (?:von|mit|aus)\ (?:meinem|meiner|der|dem|mail|outlook|yahoo|gmx|web\.de|t-online)\b
      | diese\ nachricht\ wurde\ von\ .+\ gesendet
      | inviato\ da\ \S
      | sendt\ fra\ min\ \S
      | enviado\ (?:do|desde)\ (?:meu|mi)\ \S
      | verzonden\ (?:met|vanaf)\ \S
      | verstuurd\ (?:met|vanaf)\ \S
      | skickat\ från\ \S
      | från\ min\ \S
      | wysłane\ z\ \S
      | отправлено\ (?:с|из)\ \S
      | (?:從我的|寄自我的)\ ?iPhone
      | 发自我的
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# Verbs that end a quote header ("… wrote:"), in the languages of the corpora and a few more.
WROTE = (
    r"(?:wrote|writes|said|schrieb|schrieben\s+Sie|geschrieben|a\s+écrit|a\s+ecrit|nous\s+a\s+dit"
    r"|escribió|escreveu|ha\s+scritto|het\s+volgende\s+geschreven|schreef|skrev|kirjoitti"
    r"|napisał\(a\)|napisała|napisał|написал\(а\)|написала|написал|написав|пише|写道|寫道)"
)
# Possessive quantifiers keep the header patterns linear on long lines full of "@" and ".".
EMAIL = r"[^\s@<>]++@(?:[^\s@<>.]++\.)++[^\s@<>.]++"
QUOTE_HEADERS = [
    # "On Mon, Feb 1, 2016 at 4:58 AM, X <x@y> wrote:", "Am 03.02.2016 schrieb X:", "---- On … wrote ----",
    # "Le 4 janv. 2016 19:03, X a écrit :", "20 окт. 2016 г. 19:37 пользователь X написал:" …
    rf"^[\s>*-]*(?=[^\n]*\d)[^\n]{{4,300}}?(?<!\w){WROTE}(?:\s*[:：][\s*-]*|\s+-{{2,}}[\s*]*)$",
    # "X <x@y> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:", "Op … schreef X het volgende geschreven:"
    rf"^(?=[^\n]*?(?<!\w)(?:schrieb|schreef|wrote|skrev)\s)"
    rf"[\s>*-]*[^\n]{{2,300}}?(?:\d|{EMAIL})[^\n]{{0,200}}?(?<!\w)(?:schrieb|schreef|wrote|skrev)\s[^\n]{{0,150}}[:：]\s*$",
    # "Some One <info@example.org> wrote:", "X via Discourse Meta <x@y> schrieb:"
    rf"^(?=[^\n]*?(?<!\w){WROTE}\s*[:：]?\s*$)[^\n]{{0,200}}{EMAIL}[^\n]{{0,100}}(?<!\w){WROTE}\s*[:：]?\s*$",
    rf"^[^\n]+\svia\s[^\n]+\s{WROTE}\s*[:：]\s*$",
    # "2015-10-18 0:17 GMT+03:00 X <x@y>:", "2013/7/20 X <x@y>", "Thu, 26 Jun 2014 14:00:51 +0400 от X <x@y>:"
    rf"^[^\n]{{0,40}}\d{{4}}[^\n]{{1,120}}<\s*{EMAIL}\s*>\s*[:：]?\s*$",
    # "2016-03-03 17:21 GMT+01:00 Some One"
    r"^\s*\d{4}[-/]\d{1,2}[-/]\d{1,2}\s+\d{1,2}:\d{2}\s+GMT[+-]\d{1,2}:?\d{2}\s+\w[\w\s.'-]*$",
    # "In message <…>, X writes:"
    r"^\s*In message\s.+\swrites:\s*$",
]
FORWARD_MARKERS = (
    r"forwarded message|original message|reply message|ursprüngliche nachricht|originalnachricht"
    r"|weitergeleitete nachricht|mensaje original|mensaje reenviado|message d'origine|message transféré"
    r"|messaggio originale|messaggio inoltrato|oorspronkelijk bericht|doorgestuurd bericht"
    r"|originalmeddelande|vidarebefordrat meddelande|wiadomość oryginalna|wiadomość przekazana"
    r"|исходное сообщение|пересылаемое сообщение|переслано сообщение|原始邮件|原始郵件|转发的邮件"
)
QUOTE_HEADERS += [
    rf"^[\s>*]*-{{2,}}\s*(?:{FORWARD_MARKERS})\s*-{{2,}}[\s*]*$",
    r"^[\s>*]*(?:begin forwarded message|anfang der weitergeleiteten nachricht|début du message transféré"
    r"|inizio messaggio inoltrato|comienzo del mensaje reenviado|begin doorgestuurd bericht)\s*:",
]
QUOTE_HEADER = re.compile("|".join(f"(?:{p})" for p in QUOTE_HEADERS), re.IGNORECASE)


# How the "Begin forwarded message:" pattern starts, the one pattern whose colon may end nothing.
_FORWARD_START = re.compile(
    r"[\s>*]*(?:begin forwarded|anfang der weitergeleiteten|début du message|inizio messaggio"
    r"|comienzo del mensaje|begin doorgestuurd)",
    re.IGNORECASE,
)


def may_be_quote_header(line: str) -> bool:
    """False only where ``QUOTE_HEADER`` cannot match ``line``; the pattern costs 10-20 us a line.

    Its patterns end a line with a colon, a closing "-" or "*" ("---- On … wrote ----",
    "-----Original Message-----"), or, with an address's "@", a verb or ">" ("X <x@y> wrote",
    "2013/7/20 X <x@y>"); one starts with a digit ("2016-03-03 17:21 GMT+01:00 X") and one
    with "Begin forwarded message" before its colon. A line of a reply's text, or of the
    email it quotes ("Time: 10:00 - 11:00", a link), is turned away by those ends alone.
    """
    if line.rstrip()[-1:] in (":", "：", "-", "*") or "@" in line:
        return True
    start = line.lstrip()[:1]
    return start.isdigit() or (start != "" and _FORWARD_START.match(line) is not None)


def is_quote_header(text: str) -> bool:
    """Whether ``text`` (a stripped line, or wrapped lines joined) is a quote header."""
    return may_be_quote_header(text) and QUOTE_HEADER.match(text) is not None


# A header may be wrapped over several lines; its first line must carry a date, a time or an address.
HEADER_START_HINT = re.compile(rf"\d{{4}}|\d{{1,2}}[:.]\d{{2}}|{EMAIL}|<\s*$")
WRAPPED_PIECE_WIDTH = 60

FROM_KEYS = r"from|von|de|da|van|från|fra|od|от|expéditeur|afzender|lähettäjä|发件人|寄件者"
OTHER_KEYS = (
    r"sent|date|to|cc|bcc|subject|reply-to|on behalf of|gesendet|datum|an|kopie|betreff|antwort an"
    r"|envoyé|à|objet|destinataire|répondre à|enviado|enviada em|fecha|para|asunto|assunto"
    r"|inviato|data|a|oggetto|risposta|verzonden|aan|onderwerp|beantwoorden - aan|skickat|till|ämne"
    r"|kopia|sendt|til|emne|wysłano|wysłane|do|temat|dw|отправлено|дата|кому|копия|тема"
    r"|发送时间|日期|收件人|抄送|主题|寄件日期|收件者|主旨"
)
MAIL_HEADER = re.compile(
    rf"^\s*\*?\s*(?P<key>{FROM_KEYS}|{OTHER_KEYS})\s*\*?\s*[:：]\s*\*?(?:\s|$)", re.IGNORECASE
)
# The first line of a header block an HTML mail client puts above the quoted thread.
HEADER_TEXT = re.compile(rf"^\s*(?:{FROM_KEYS}|date|datum)\s*[:：]", re.IGNORECASE)
FROM_KEY = re.compile(rf"^(?:{FROM_KEYS})$", re.IGNORECASE)

GREETING = (
    r"(?:(?:mit\s+)?(?:(?:den\s+)?(?:freundliche|beste|liebe|herzliche|viele|schöne|sonnige|nette"
    r"|gute|freundlichem|bestem|herzlichem|liebem)[nm]?\s+)?(?:grüße|grüssen|grüsse|grüßen|gruß|gruss)"
    r"|mfg|lg|vg|bg"
    r"|(?:best|kind|kindest|warm|warmest|many)\s+regards|regards|best\s+wishes|best|cheers|all\s+the\s+best"
    r"|(?:yours\s+)?sincerely|yours\s+truly"
    r"|(?:bien\s+)?cordialement|bien\s+à\s+vous|salutations"
    r"|(?:met\s+)?vriendelijke\s+groet(?:en)?|groeten|groetjes"
    r"|saludos(?:\s+cordiales)?|un\s+saludo|atentamente"
    r"|cordiali\s+saluti|distinti\s+saluti|saluti"
    r"|(?:med\s+)?vänliga\s+hälsningar|hälsningar|mvh"
    r"|с\s+уважением|z\s+poważaniem|pozdrawiam)"
)
# A name on the closing line: after a comma, or capitalised ("Viele Grüße, max", "Best regards Max").
NAME = r"[^\W\d_][\w.'’-]*(?:\s+[^\W\d_][\w.'’-]*){0,2}"
CAPITALISED_NAME = r"(?-i:[A-ZÄÖÜÀ-Ý][\w.'’-]*(?:\s+[A-ZÄÖÜÀ-Ý][\w.'’-]*){0,2})"
CLOSING = re.compile(
    rf"^\s*(?:(?:vielen\s+)?dank(?:e)?(?:\s+und|\s*&)?\s+|thanks?(?:\s+and|\s*&)?\s+)?"
    rf"{GREETING}(?:\s*/\s*{GREETING})*\s*[.!]?(?:\s*,\s*{NAME}|\s+{CAPITALISED_NAME})?\s*[,.!]?\s*$",
    re.IGNORECASE,
)
CLOSING_TAIL_LINES = 3
CLOSING_TAIL_WIDTH = 50

# Zero-width and direction marks some clients put into replies; removed before the lines are read
# (a pattern's ``sub`` scans in C, several times faster than ``str.translate`` with a table).
INVISIBLE = re.compile("[\u200b\u200c\u200d\u200e\u200f\ufeff\u2060]+")
