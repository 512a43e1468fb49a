"""Errors the CLI turns into a one-line message and an exit code, never a traceback."""


class BlogartError(Exception):
    """A problem the user can fix: bad input, missing weights, unreachable server."""

    exit_code = 1


class UsageError(BlogartError):
    """The command line or the input file itself is wrong."""

    exit_code = 2


class InputError(UsageError):
    """The post cannot be read: empty, binary, too big, broken front matter."""


class MissingWeights(BlogartError):
    """A model's files are not installed where we looked."""


class LLMError(BlogartError):
    """The LLM server failed or kept returning unusable output."""


class NoCover(BlogartError):
    """A run finished but every candidate was flagged, so there is nothing to publish."""

    exit_code = 3
