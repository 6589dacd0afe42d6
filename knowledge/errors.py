"""Errors a person can cause: each carries a message written for that person."""


class UserError(Exception):
    """Shown to the person who acted (ephemeral reply, m.notice, a console line)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(UserError):
    pass


class NotAllowed(UserError):
    pass


class InvalidInput(UserError):
    pass


class OperationFailed(UserError):
    """Not the person's mistake but outside it (a read-only folder, a full disk): the
    message says what happened and what to do; the cause is chained and logged."""


class LimitReached(UserError):
    """A member used a rate-limited command too often; the message says when to retry."""
