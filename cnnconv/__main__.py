"""``python -m cnnconv`` runs the command line."""

from cnnconv.cli import main

if __name__ == "__main__":
    main()
