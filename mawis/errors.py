"""Errors that the CLI reports as one line and a non-zero exit code."""

from __future__ import annotations


class MawisError(Exception):
    """A problem with the user's input or environment, not a bug.

    The message is one line that names the file/row/option and says how to fix it.
    """

    exit_code = 2


class UsageError(MawisError):
    """Bad command-line arguments or configuration values."""

    exit_code = 2


class OutputExistsError(MawisError):
    """The output location exists and ``--overwrite`` was not given."""

    exit_code = 4
