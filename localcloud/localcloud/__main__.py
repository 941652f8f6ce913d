"""`python -m localcloud serve|stop`: the local Yandex Cloud API server (see server/cli.py, README.md).

COI nodes on their own (what molecule boots) are the coinode package's: `python -m coinode apply|remove|status`.
"""

import argparse
import sys

from localcloud.server import cli


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m localcloud', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_parsers(parser.add_subparsers(dest='command', required=True))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == '__main__':
    sys.exit(main())
