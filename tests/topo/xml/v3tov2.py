#!/usr/bin/env python3
"""Rewrites an hwloc XML file of format 3.0 (hwloc's master branch) as format 2.0, which the hwloc
2.x this project links reads: the version attribute; OS device types from 3.0's bitmask back to
2.x's enum (by subtype: CUDA/OpenCL/LevelZero are CoProc=5, NVML/RSMI GPU=1, as hwloc 2.x makes
them); and the topology-wide <info> lines after the root object, which 3.0 moved there, back into
the Machine object. Nothing else changes. Usage: v3tov2.py IN.xml OUT.xml"""
import re
import sys

COPROC, GPU = "5", "1"
KIND = {"CUDA": COPROC, "OpenCL": COPROC, "LevelZero": COPROC, "NVML": GPU, "RSMI": GPU}

text = open(sys.argv[1]).read()
assert '<topology version="3.0">' in text, "not an hwloc 3.0 XML file"
text = text.replace('<topology version="3.0">', '<topology version="2.0">')
text = re.sub(r'subtype="(\w+)" osdev_type="\d+"', lambda m: 'subtype="%s" osdev_type="%s"' % (m[1], KIND[m[1]]), text)
tail = text[text.rindex("</object>\n"):]
infos = re.findall(r'^  <info name=.*/>\n', tail, re.M)
text = text[:len(text) - len(tail)] + tail.replace("".join(infos), "")
first = text.index("\n", text.index('<object type="Machine"')) + 1
text = text[:first] + "".join("  " + i for i in infos) + text[first:]
open(sys.argv[2], "w").write(text)
