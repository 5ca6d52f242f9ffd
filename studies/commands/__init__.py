"""Subcommands of the ``servicelab`` command line, one module each.

A module here defines ``register(subparsers)``, which adds its command with
``subparsers.add_parser("name", help="...")`` and sets ``func`` (a callable taking the parsed
arguments and returning the exit code) with ``set_defaults``. It is discovered automatically.

To keep ``servicelab --help`` and the other commands fast, the command line reads each module's
command name and help from its source (the literal arguments of the ``add_parser`` calls made on
``register``'s first argument) and imports the module only when its command runs. Import heavy
libraries inside the command's function, not at the top of the module; a module whose name or help is
not a literal is imported (slowly) to register it.
"""
