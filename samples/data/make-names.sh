#!/usr/bin/env bash
# Regenerates names.txt, the sample input of the README's first command:
#   scripts/panpipe pipeline 'cat samples/data/names.txt' 'grep Yost' 'wc -l'
# 400 made-up "First Last" names from a fixed Park-Miller generator (integer-exact in any awk), so the
# file, and the count above, are the same on every machine.
set -euo pipefail
cd "$(dirname "$0")"
awk 'BEGIN {
  nf = split("Ada Bea Cal Dana Eli Fay Gus Hana Ivo Jude Kai Lena Milo Nia Otto Pia Quinn Rosa Sami Tess Uma Vic Wren Xena Yuri Zoe", first, " ")
  nl = split("Abbott Baker Cole Diaz Ellis Fox Gray Hale Ito Jones Kerr Lopez Moss Novak Ortiz Park Quade Reyes Stone Tran Ueda Vance Ward Yost Yoshida Zhou", last, " ")
  x = 20240601
  for (i = 0; i < 400; i++) {
    x = (x * 16807) % 2147483647; f = first[x % nf + 1]
    x = (x * 16807) % 2147483647; l = last[x % nl + 1]
    print f " " l
  }
}' > names.txt
