"""The one error ``uebench protect`` and its parts raise."""


class ProtectError(ValueError):
    """A refusal of ``uebench protect``; the message names the file or folder."""
