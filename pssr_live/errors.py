"""The one base class for errors whose message is meant for the user."""


class UserError(Exception):
    """Bad input, bad arguments or a failed device: the message says what is wrong and what
    to do. The command line prints it on one line and exits non-zero, without a traceback."""
