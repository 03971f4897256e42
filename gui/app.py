"""Entry point of ``kgen-studio``, the desktop app (its window is the subject of issue 5)."""

import sys


def main() -> int:
    print(
        "kgen-studio: the desktop app is not built yet; train from the command line with\n"
        "  kgen train vae --dataset digits --epochs 30",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
