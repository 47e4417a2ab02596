"""``python -m segeval``: the same as the ``segeval`` command."""

from segeval.cli import main

if __name__ == "__main__":
    main()
