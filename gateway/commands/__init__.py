"""One module per `doorcount` subcommand; each exposes `register(subparsers)`.

A handler is stored with `parser.set_defaults(handler=fn)`; `fn(args) -> int` is the exit code.
"""
