"""Command line, shaped like bingo's (a cobra app): `bingo <command>`, bare run prints Hello world."""

import argparse
import os
import signal
import sys

from . import VERSION, config

COMMANDS = [
    ('completion', 'Generate the autocompletion script for the specified shell'),
    ('help', 'Help about any command'),
    ('prepare_db', 'prepare_db'),
    ('print_current_config', 'print_current_config'),
    ('print_default_config', 'print_default_config'),
    ('run_server', 'run_server'),
    ('version', 'version'),
]

HELP = '''bingo-compatible SHS reference service %s

Usage:
  bingo [flags]
  bingo [command]

Available Commands:
%s

Flags:
  -h, --help   help for bingo

prepare_db flags:
  --scale small|full   data volume (default small: 5k customers, 1k movies, 50k sessions;
                       full: 500k customers, 29k movies, 5M sessions, like bingo)
  --customers N, --movies N, --sessions N   explicit counts (override --scale)

Config: $SHS_CONFIG or %s. Use "bingo [command] --help" for more information about a command.
''' % (VERSION, '\n'.join('  %-20s %s' % c for c in COMMANDS), config.DEFAULT_CONFIG_PATH)

BASH_COMPLETION = '''# bash completion for bingo                                 -*- shell-script -*-
_bingo() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "%s" -- "$cur"))
    elif [ "${COMP_WORDS[1]}" = prepare_db ]; then
        COMPREPLY=($(compgen -W "--scale --customers --movies --sessions small full" -- "$cur"))
    fi
}
complete -F _bingo bingo
''' % ' '.join(command[0] for command in COMMANDS)


def fail(message, code=1):
    sys.stderr.write('bingo: %s\n' % message)
    return code


def refuse_root(command):
    if os.geteuid() == 0:
        return fail('refusing to %s as root (uid 0): run as an unprivileged user, '
                    'e.g. the image user bingo (uid 10001)' % command)
    return None


def load_config():
    try:
        return config.load(), None
    except config.ConfigError as exc:
        return None, fail(str(exc))


def open_log(cfg, echo=True):
    from .applog import AppLog, LogDirMissing
    try:
        return AppLog(config.log_dir(cfg['student_email']), echo=echo), None
    except LogDirMissing as exc:
        return None, fail(str(exc))


def cmd_run_server(args):
    refused = refuse_root('run_server')
    if refused:
        return refused
    cfg, err = load_config()
    if err:
        return err
    log, err = open_log(cfg)
    if err:
        return err
    from . import server  # imported late: aiohttp is not needed for the other commands
    log.event('Prepare app.', version=VERSION, config=config.masked(cfg))
    try:
        return server.run(cfg, log)
    finally:
        log.close()


def cmd_prepare_db(args):
    parser = argparse.ArgumentParser(prog='bingo prepare_db', description='Create and fill the database.')
    parser.add_argument('--scale', choices=('small', 'full'), default='small')
    parser.add_argument('--customers', type=int)
    parser.add_argument('--movies', type=int)
    parser.add_argument('--sessions', type=int)
    opts = parser.parse_args(args)
    refused = refuse_root('prepare_db')
    if refused:
        return refused
    from . import prepare
    try:
        counts = prepare.counts_for(opts.scale, opts.customers, opts.movies, opts.sessions)
    except ValueError as exc:
        return fail(str(exc), 2)
    cfg, err = load_config()
    if err:
        return err
    log, err = open_log(cfg, echo=False)
    if err:
        return err
    # As PID 1 an unhandled SIGTERM would be ignored; exiting rolls the whole preparation back.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print('prepare_db: %d customers, %d movies, %d sessions into %s' % (
        counts['customers'], counts['movies'], counts['sessions'], cfg['postgres_cluster']['db_name']),
        flush=True)
    try:
        return prepare.run(cfg, counts, log, out=lambda text: print(text, flush=True))
    finally:
        log.close()


def cmd_print_default_config(args):
    sys.stdout.write(config.dump(config.defaults()))
    return 0


def cmd_print_current_config(args):
    cfg, err = load_config()
    if err:
        return err
    sys.stdout.write(config.dump(config.masked(cfg)))
    return 0


def cmd_version(args):
    print('shs-reference %s (bingo-compatible)' % VERSION)
    return 0


def cmd_help(args):
    sys.stdout.write(HELP)
    return 0


def cmd_completion(args):
    shell = args[0] if args else 'bash'
    if shell != 'bash':
        return fail('completion: only bash is supported (got %r)' % shell)
    sys.stdout.write(BASH_COMPLETION)
    return 0


HANDLERS = {
    'run_server': cmd_run_server,
    'prepare_db': cmd_prepare_db,
    'print_default_config': cmd_print_default_config,
    'print_current_config': cmd_print_current_config,
    'version': cmd_version,
    'help': cmd_help,
    'completion': cmd_completion,
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print('Hello world')
        return 0
    command, rest = argv[0], argv[1:]
    if command in ('-h', '--help'):
        return cmd_help(rest)
    if command not in HANDLERS:
        sys.stderr.write('Error: unknown command "%s" for "bingo"\n' % command)
        sys.stderr.write('Run \'bingo --help\' for usage.\n')
        return 1
    if command != 'prepare_db' and ('-h' in rest or '--help' in rest):
        return cmd_help(rest)
    try:
        return HANDLERS[command](rest)
    except KeyboardInterrupt:
        return 130
