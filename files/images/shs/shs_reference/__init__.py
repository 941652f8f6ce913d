"""SHS reference service: an open, bingo-compatible stand-in for the closed `bingo` binary."""

VERSION = '1.0.0'
