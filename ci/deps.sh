#!/usr/bin/env bash
# What the example tests need besides Rust: `swaks` and a `python3.11` that still has
# `smtpd` (removed in Python 3.12), to compare the smtp_server example with CPython's smtpd
# and to send mail with smtplib (tests/example_smtp.rs); `openssl` and `curl`, the TLS
# clients of tests/tls.rs and tests/example_tls.rs (with python3's ssl module). Idempotent: apt-get runs only
# for a missing package, through sudo only when not root. Without them those tests print
# why and pass, so a machine without apt-get only gets a warning.
set -euo pipefail

missing=()
command -v swaks >/dev/null 2>&1 || missing+=(swaks)
command -v python3.11 >/dev/null 2>&1 || missing+=(python3.11)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)

if ((${#missing[@]})); then
    if command -v apt-get >/dev/null 2>&1; then
        sudo=()
        [[ $(id -u) -eq 0 ]] || sudo=(sudo)
        { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "${missing[@]}"; } ||
            echo "warning: could not install ${missing[*]}; the tests needing them will be skipped" >&2
    else
        echo "warning: no apt-get to install ${missing[*]}; the tests needing them will be skipped" >&2
    fi
fi

if python3.11 -W ignore -c 'import smtpd, smtplib' 2>/dev/null; then
    echo "python3.11 with smtpd: $(command -v python3.11)"
else
    echo "warning: no python3.11 with smtpd; the differential SMTP tests will be skipped" >&2
fi
command -v swaks >/dev/null 2>&1 && echo "swaks: $(command -v swaks)" || true
command -v openssl >/dev/null 2>&1 && echo "openssl: $(openssl version)" || true
command -v curl >/dev/null 2>&1 && echo "curl: $(command -v curl)" || true
