"""The `tessera` command line: one thin module per subcommand (Typer + Rich)."""
