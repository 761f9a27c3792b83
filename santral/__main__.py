"""``python -m santral`` runs the command-line interface."""

from santral.cli import main

main()
