#!/usr/bin/python3
"""Parses a MIB module with pysmi's strict SMIv2 grammar and exits non-zero
with the parser's error if it is not valid SMIv2. Only the module's own
text is checked: Debian ships none of the IETF base modules it imports."""
import sys

from pysmi.parser.dialect import smiV2
from pysmi.parser.smi import parserFactory

with open(sys.argv[1]) as f:
    text = f.read()
for module in parserFactory(**smiV2)().parse(text):
    print(module[0])
