"""Free text from a channel, made storable everywhere, and cut to fit Telegram's limits."""

import re

TEXT_LIMIT = 4096  # a message's text
CAPTION_LIMIT = 1024  # a photo's caption


# A UTF-16 surrogate alone (half an emoji a client split; `\ud83d` is valid JSON): no UTF-8 encodes it, so
# neither database, nor a log line, nor a JSON dump without ASCII escapes can take it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """Storable text: PostgreSQL rejects NUL characters in text, and no database takes a lone surrogate;
    each becomes U+FFFD. A pair of surrogates (an emoji spelled as two halves) is joined back into one."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def storable(value):
    """`clean` through a JSON-like value (a notice's params, which quote what came in): a NUL anywhere in a
    jsonb value is refused by PostgreSQL, and the row that owes a lead's notice must always be writable."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


# Bidi overrides, embeddings and isolates: in a name or a title they turn the text after them around
# ("gpj.exe" shown as "exe.jpg") in staff's lists and pings.
_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
# Characters that show nothing: a text of only these (and spaces) has nothing in it (str.strip keeps them).
_INVISIBLE = {**dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad\u180e")), **_BIDI}


def has_words(text: str) -> bool:
    """Whether a person wrote anything in `text`: something other than spaces and invisible characters."""
    return bool(text.translate(_INVISIBLE).strip())


def shown(text: str) -> str:
    """A name or a title as staff see it: storable, and without bidi controls."""
    return clean(text).translate(_BIDI)


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _cut(line: str, limit: int) -> tuple[str, str]:
    """The longest head of `line` within `limit` units, ended at its last space when there is one in the
    second half (a word is not broken), and the rest."""
    size, end = 0, 0
    for end, char in enumerate(line):  # noqa: B007 — `end` is used after the loop
        size += 2 if ord(char) > 0xFFFF else 1
        if size > limit:
            break
    else:
        return line, ""
    end = max(end, 1)  # a limit below one character still makes progress
    space = line.rfind(" ", 0, end)
    if space > end // 2:
        return line[:space], line[space + 1:]
    return line[:end], line[end:]


def split(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most `limit` units, cut at line breaks, so a long list arrives as whole lines; a line
    longer than a part is cut between words. Blank parts (Telegram rejects them) are left out."""
    parts: list[str] = []
    current, size = "", 0
    for line in text.split("\n"):
        length = units(line)
        while length > limit:
            if current:
                parts.append(current)
                current, size = "", 0
            head, line = _cut(line, limit)
            parts.append(head)
            length = units(line)
        if current and size + 1 + length > limit:
            parts.append(current)
            current, size = "", 0
        if current:
            current, size = f"{current}\n{line}", size + 1 + length
        elif line.strip():  # a part does not start with blank lines
            current, size = line, length
    if current:
        parts.append(current)
    parts = [part for part in parts if part.strip()]
    return parts or [text]
