"""The ``laplacenet`` command line."""
import argparse
import sys

from ._version import __version__

__all__ = ["main", "build_parser"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="laplacenet",
        description="Bayesian multilayer perceptrons by the Laplace approximation (PRML 5.4 and 5.7).")
    parser.add_argument("--version", action="version", version=f"laplacenet {__version__}")
    return parser


def main(argv=None):
    parser = build_parser()
    parser.parse_args(sys.argv[1:] if argv is None else argv)
    parser.print_help()
    return 0
