"""Text that cannot be written as UTF-8 (lone surrogates, e.g. from a broken JSON escape) is refused by name,
before a tokenizer or a JSON encoder meets it and fails with an error that says nothing to the person."""
from __future__ import annotations

from .contracts import InputError


def check_encodable(text: str, what: str = "message") -> None:
    """InputError naming the first character of `text` that is not valid text, and where it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a character that cannot be encoded"
        raise InputError(f"The {what} contains characters that are not valid text ({kind}, U+{code:04X}, at "
                         f"position {error.start}); remove or retype them and send again.") from None
