"""Training entry points: config defaults, the SimCLR trainer and the CLI."""
