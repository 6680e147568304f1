"""Errors that carry a catalog key, so the handler can answer in the person's language."""


class ConfigError(ValueError):
    """Bad configuration: the message is one line naming the key, the value and what is allowed."""


class DeskError(Exception):
    """A refusal or a bad argument that the user must be told about; nothing was changed."""

    def __init__(self, key: str, /, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
