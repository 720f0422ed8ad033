"""`python -m runner RECIPE` (also `accelerate launch -m runner RECIPE`) is the `ftrun` command."""

from runner.cli import main

if __name__ == "__main__":
    main()
