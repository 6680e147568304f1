"""Free text from Telegram, made storable everywhere: PostgreSQL rejects NUL characters in text."""


def clean(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text
