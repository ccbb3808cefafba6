"""``python -m studio`` (and the PyInstaller bundle's entry point)."""
import sys

from studio.app import main

if __name__ == "__main__":
    sys.exit(main())
