"""Errors the command line reports as one line with exit status 2."""


class UserError(Exception):
    """A problem the user can act on; printed as one line, exit status 2."""


def checked_option(check, value, name: str):
    """A command-line option's value through its library check (``dlsynth.options``, one
    wording for both): a bad value becomes a UserError naming the option."""
    try:
        return check(value, name=name)
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None
