"""The `llmos` command: subcommands (cli) and the interactive shell (repl)."""
