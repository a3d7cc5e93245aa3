#!/usr/bin/env bash
# Installs what the hub needs from outside PyPI: uv, and from Debian the CJK fonts for the PDF
# reports, pango and harfbuzz for WeasyPrint, poppler-utils (pdftoppm/pdftotext for checking reports)
# and the openssl command (the independent check of the SM2 signatures of exchange packages).
# Safe to run again; installs only what is missing.
set -euo pipefail

if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then
  echo "installing uv (PyPI)"
  python3 -m pip install --quiet uv
fi

missing=()
fc-list :lang=zh 2>/dev/null | grep -qi "Noto" || missing+=(fonts-noto-cjk)
ldconfig -p 2>/dev/null | grep -q "libpango-1.0" || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# without harfbuzz's subsetter WeasyPrint falls back to fontTools and a PDF takes five times longer
ldconfig -p 2>/dev/null | grep -q "libharfbuzz-subset" || missing+=(libharfbuzz-subset0)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root or install them: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
