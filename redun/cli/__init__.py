"""Click commands, one module per area. Only redun/cli.py imports these."""
