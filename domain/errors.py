"""Errors that carry a catalog key, so the handler can answer in the person's language."""


class ConfigError(ValueError):
    """Bad configuration: the message is one line naming the key, the value and what is allowed."""


class DeskError(Exception):
    """A refusal or a bad argument that the user must be told about; nothing was changed."""

    def __init__(self, key: str, /, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class Counted:
    """A number with its noun, agreed in the reader's language when rendered: `Counted("words.n.days", 31)`
    becomes «31 день» / "31 days". The domain says what is counted; the catalog says how it is written."""

    def __init__(self, key: str, count: int) -> None:
        self.key, self.count = key, count


class Named:
    """An internal value shown to people by its name: `Named("state", "resolved")` becomes «решено»."""

    def __init__(self, prefix: str, value: str) -> None:
        self.prefix, self.value = prefix, value
