#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, when they are missing.
set -euo pipefail
needed=()
command -v java >/dev/null || needed+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || needed+=(maven)
# promtool and a real Prometheus for the alert-rule and dashboard-query tests
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || needed+=(prometheus)
# docker-compose validates docker-compose.yml without a Docker engine
command -v docker-compose >/dev/null || needed+=(docker-compose)
# valgrind counts the in-process bench's instructions (push_tools/bench/inprocess.py)
command -v valgrind >/dev/null || needed+=(valgrind)
if [ ${#needed[@]} -eq 0 ]; then exit 0; fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
