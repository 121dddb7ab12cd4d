"""Errors the command line reports as one line with exit status 2."""


class UserError(Exception):
    """A problem the user can act on; printed as one line, exit status 2."""
